import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A growable byte buffer for a command's output (its JSON, a CSV of a million rows) whose growth
/// fails with an error, not a trap.
///
/// A `String` or `Data` that cannot grow ends the process (Swift's allocator traps); under an
/// address-space limit (`ulimit -v`) a million-row output did exactly that. This buffer grows by
/// `realloc` after `AddressSpace.require` has checked the room (its slack left for everything
/// else), and throws `.outOfMemory` when either says no. It is written out whole (`write(to:)`),
/// so nothing computed from a damaged index reaches stdout (the caller checks before writing).
package final class OutputBytes {
    private var base: UnsafeMutablePointer<UInt8>?
    package private(set) var count = 0
    private var capacity = 0
    /// What the buffer holds, for the out-of-memory message ("the JSON output").
    package let what: String

    package init(what: String) { self.what = what }

    deinit { free(base) }

    /// Makes room for `n` more bytes.
    @inline(__always)
    package func reserve(_ n: Int) throws {
        if capacity &- count < n { try grow(n) }
    }

    private func grow(_ n: Int) throws {
        let (need, overflow) = count.addingReportingOverflow(n)
        guard !overflow else { throw outOfMemory(needing: Int.max) }
        // Doubling while small, then by half: a large buffer's realloc moves pages (mremap),
        // not bytes, so the smaller step costs little and overshoots the limit less.
        let step = capacity < (64 << 20) ? capacity : capacity / 2
        let newCapacity = Swift.max(need, capacity + Swift.max(step, 4096))
        try AddressSpace.require(newCapacity - capacity,
                                 for: "\(what) (\(AddressSpace.mebibytes(count)) of it so far)")
        guard let p = realloc(base, newCapacity) else { throw outOfMemory(needing: newCapacity - capacity) }
        base = p.assumingMemoryBound(to: UInt8.self)
        capacity = newCapacity
    }

    private func outOfMemory(needing bytes: Int) -> EmbedScopeError {
        EmbedScopeError(.outOfMemory,
                        "out of memory: \(what) needs \(bytes == Int.max ? "more than the address space" : AddressSpace.mebibytes(bytes)) more "
                            + "(\(AddressSpace.mebibytes(count)) of it so far)",
                        hint: "raise the limit (`ulimit -v`), or work on fewer rows")
    }

    @inline(__always)
    package func append(_ byte: UInt8) throws {
        try reserve(1)
        base![count] = byte
        count &+= 1
    }

    package func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        try reserve(bytes.count)
        (base! + count).update(from: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        count &+= bytes.count
    }

    package func append(_ s: StaticString) throws {
        try append(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    package func append(_ s: String) throws {
        var s = s
        try s.withUTF8 { try append(UnsafeRawBufferPointer($0)) }
    }

    /// `byte` written `n` times.
    package func append(repeating byte: UInt8, count n: Int) throws {
        guard n > 0 else { return }
        try reserve(n)
        (base! + count).initialize(repeating: byte, count: n)
        count &+= n
    }

    /// Drops everything from `offset` on.
    package func truncate(to offset: Int) {
        precondition(offset >= 0 && offset <= count)
        count = offset
    }

    /// The bytes written so far (valid until the next append).
    package func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Copies `range` of the bytes out (for reordering a part of the buffer).
    func copy(_ range: Range<Int>) throws -> OutputBytes {
        let c = OutputBytes(what: what)
        try withBytes { try c.append(UnsafeRawBufferPointer(rebasing: $0[range])) }
        return c
    }

    /// Writes everything to `fd`: nil, or the errno of the write that failed.
    package func write(to fd: Int32) -> Int32? {
        withBytes { StandardStreams.writeAll(fd, $0) }
    }
}
