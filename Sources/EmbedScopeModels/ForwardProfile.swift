import Foundation
import EmbedScopeCore
import EmbedScopeImages

/// Where the time of a forward pass went, by layer type: CPU time of the worker threads,
/// summed over them (so about threads × wall time on an idle machine; unlike wall time, it
/// does not grow when other processes take the cores).
public struct ForwardProfile: Sendable {
    /// (layer type, seconds), in network order.
    public var layers: [(kind: String, seconds: Double)]
    /// Wall-clock seconds of the whole call.
    public var wall: Double
    /// Worker threads used.
    public var threads: Int

    public var total: Double { layers.reduce(0) { $0 + $1.seconds } }
}

/// Per-worker accumulator behind `ForwardProfile`; a no-op unless enabled.
struct Stopwatch {
    let enabled: Bool
    private(set) var seconds: [Double]
    private var last: Double = 0

    init(kinds: Int, enabled: Bool) {
        self.enabled = enabled
        seconds = enabled ? [Double](repeating: 0, count: kinds) : []
        if enabled { last = Stopwatch.threadTime() }
    }

    /// Starts a new lap now (on the thread that will lap it).
    @inline(__always)
    mutating func restart() {
        if enabled { last = Stopwatch.threadTime() }
    }

    /// A stopwatch for work done on another thread on behalf of this one (see Team.split).
    func child() -> Stopwatch { Stopwatch(kinds: seconds.count, enabled: enabled) }

    /// Adds a child's times and restarts the lap.
    mutating func absorb(_ other: Stopwatch) {
        guard enabled else { return }
        for i in seconds.indices { seconds[i] += other.seconds[i] }
        last = Stopwatch.threadTime()
    }

    /// Charges the time since the previous lap (or start) to `kind`.
    @inline(__always)
    mutating func lap(_ kind: Int) {
        guard enabled else { return }
        let t = Stopwatch.threadTime()
        seconds[kind] += t - last
        last = t
    }

    /// CPU seconds of the calling thread.
    static func threadTime() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Wall-clock seconds.
    @inline(__always)
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
