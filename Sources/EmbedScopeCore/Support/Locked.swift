import Foundation

/// A value that several threads share, behind a lock: `Synchronization.Mutex`'s `withLock`.
///
/// Not `Mutex` itself: on Linux its contended path hands the lock over in the kernel (a futex),
/// which ThreadSanitizer cannot see, so under contention it reported the accesses the lock
/// orders as races (`BLASThreads`' scopes, in CI's ThreadSanitizer run). `NSLock` is a pthread
/// mutex, whose lock and unlock ThreadSanitizer intercepts; uncontended it costs about the same.
package final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    package init(_ value: sending Value) { self.value = value }

    /// Runs body with the value, the lock held for the whole call.
    package func withLock<Result, E: Error>(_ body: (inout sending Value) throws(E) -> sending Result) throws(E) -> sending Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
