import EmbedScope
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress display on stderr — count, rate, ETA — redrawn at most 10 times a
/// second, and only when stderr is a terminal: quiet when piped or in CI.
final class TerminalProgress: ProgressSink, @unchecked Sendable {
    private let enabled: Bool
    var isEnabled: Bool { enabled }
    private let lock = NSLock()
    private var label = ""
    private var total: Int?
    private var start = 0.0
    private var lastDraw = 0.0
    private var drawn = false

    init(enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.enabled = enabled
    }

    private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    func begin(_ label: String, total: Int?) {
        lock.lock(); defer { lock.unlock() }
        self.label = label; self.total = total; start = Self.now(); lastDraw = 0; drawn = false
    }

    func update(_ done: Int) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        let t = Self.now()
        guard t - lastDraw >= 0.1 else { return }
        lastDraw = t
        let elapsed = max(t - start, 1e-9)
        let rate = Double(done) / elapsed
        var s = "\r\u{1B}[K\(label): \(done)"
        if let total {
            s += "/\(total) (\(total > 0 ? 100 * done / total : 100)%)"
            if rate > 0 && done < total { s += " · ETA \(Self.duration(Double(total - done) / rate))" }
        }
        s += String(format: " · %.0f/s", rate)
        FileHandle.standardError.write(Data(s.utf8))
        drawn = true
    }

    func end() {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        drawn = false
    }

    static func duration(_ s: Double) -> String {
        s < 60 ? String(format: "%.0fs", s) : s < 3600 ? String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) : String(format: "%dh%02dm", Int(s) / 3600, Int(s) / 60 % 60)
    }
}
