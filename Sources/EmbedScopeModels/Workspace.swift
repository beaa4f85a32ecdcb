import Foundation
import EmbedScopeCore
import EmbedScopeImages

/// The activation buffers of one worker thread: allocated once, 64-byte aligned, reused by
/// every layer of every forward call (no allocation in the hot path).
final class Workspace {
    let capacities: [Int]
    private let buffers: [UnsafeMutablePointer<Float>]

    init(capacities: [Int]) {
        self.capacities = capacities
        buffers = capacities.map { n in
            UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, n) * 4, alignment: 64).bindMemory(to: Float.self, capacity: Swift.max(1, n))
        }
    }

    deinit {
        for b in buffers { b.deallocate() }
    }

    subscript(_ i: Int) -> UnsafeMutablePointer<Float> { buffers[i] }
}

/// Workspaces kept between forward calls: allocating and first-touching tens of MB on every
/// call would cost milliseconds of page faults.
///
/// `@unchecked`: `free` is only touched under `lock`, and a `Workspace` (raw buffers, not
/// Sendable) belongs to exactly one caller between `take` and `give`; a `Mutex` would need the
/// forward passes to prove that hand-over with `sending`, which their worker loops cannot.
final class WorkspacePool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [Workspace] = []
    private let keep: Int

    init(keep: Int) { self.keep = keep }

    /// A workspace with exactly these capacities (a cached one if there is one).
    func take(_ capacities: [Int]) -> Workspace {
        lock.lock()
        defer { lock.unlock() }
        if let i = free.firstIndex(where: { $0.capacities == capacities }) { return free.remove(at: i) }
        return Workspace(capacities: capacities)
    }

    /// Bytes that `count` takes of these capacities would allocate beyond the cached workspaces.
    func bytesToAllocate(_ capacities: [Int], count: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        let cached = free.filter { $0.capacities == capacities }.count
        let one = capacities.reduce(0) { $0 + Swift.max(1, $1) * 4 }
        return Swift.max(0, count - cached) * one
    }

    func give(_ w: Workspace) {
        lock.lock()
        defer { lock.unlock() }
        if free.count < keep { free.append(w) }
    }
}
