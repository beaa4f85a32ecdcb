import CKernels
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A regular file mapped whole, read-only (`PROT_READ`, `MAP_SHARED`), and unmapped when the
/// last reference goes: the storage under `VectorFile` and `HalfVectorFile`.
///
/// Opening never blocks (`RegularFile` refuses a FIFO or device in the file's place), and a file
/// shorter than `minimumSize` bytes is refused as truncated before anything is mapped. A caller
/// that finds the mapped bytes invalid just throws: the mapping goes with this object.
///
/// Another program may cut the file short (or the disk fail) while it is mapped: reading a page
/// past the file's new end raises SIGBUS. The mapping is guarded (`ck_mapguard_register`): such a
/// read finds zeros instead of ending the process, and `damage()` says what happened — as it
/// does when the file is now shorter but no page past its end was read (the tail of its last
/// page reads zeros without a signal). Whoever computes from the mapping checks
/// `requireIntact()` after reading and before answering; `MappingDamage` covers a whole command.
/// `@unchecked`: every stored property is immutable and the memory is never written.
package final class ReadOnlyMapping: @unchecked Sendable {
    package let base: UnsafeRawPointer
    package let length: Int
    private let identity: MappedFileIdentity
    /// Its entry in `MappingDamage`.
    private let key: Int

    /// `header` names what the first `minimumSize` bytes are, for the error ("64-byte header").
    /// `tracked`: an index file, checked by `MappingDamage` with the others; a file the user gives
    /// (`MappedInput`) is checked by its reader alone.
    package init(path: String, minimumSize: Int, header: String, tracked: Bool = true) throws {
        let (fd, size) = try RegularFile.open(path)
        defer { close(fd) }
        guard size >= minimumSize else {
            throw EmbedScopeError(.truncated, "file is \(size) bytes, shorter than the \(minimumSize)-byte \(header)",
                                  path: path, hint: "the index is damaged; rebuild it")
        }
        // Under `ulimit -v`, the file and some room to work with it, or a clear error (the
        // allocation that finds no room after the mapping would trap).
        try AddressSpace.require(size.addingReportingOverflow(AddressSpace.workingRoom).partialValue,
                                 for: "mapping \(AddressSpace.mebibytes(size)) of vectors (and room to work with them)")
        guard let m = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), m != MAP_FAILED else {
            throw EmbedScopeError(.io, "mmap failed: \(String(cString: strerror(errno)))", path: path)
        }
        base = UnsafeRawPointer(m)
        length = size
        var st = stat()
        let known = fstat(fd, &st) == 0
        identity = MappedFileIdentity(path: path, length: size, slot: ck_mapguard_register(m, size),
                                      device: known ? UInt64(st.st_dev) : nil, inode: UInt64(st.st_ino))
        key = tracked ? MappingDamage.opened(identity) : 0
    }

    /// What may have made bytes read from this mapping wrong, nil when nothing did.
    package func damage() -> String? { identity.damage() }

    /// Throws if the file was cut short (or could not be read) since it was mapped: whatever was
    /// computed from its bytes is to be discarded.
    package func requireIntact(hint: String = MappingDamage.indexHint) throws {
        if let reason = identity.damage() { throw MappingDamage.error(path: identity.path, reason: reason, hint: hint) }
    }

    /// The first `count` bytes (at most `length`).
    package func prefix(_ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: Swift.min(count, length))
    }

    /// Hints the kernel that the whole file will be read sequentially, soon.
    /// (`madvise` advice values are not flags: two calls, not one with both OR-ed — that would be
    /// MADV_WILLNEED alone.)
    package func adviseSequential() {
        let p = UnsafeMutableRawPointer(mutating: base)
        _ = madvise(p, length, MADV_SEQUENTIAL)
        _ = madvise(p, length, MADV_WILLNEED)
    }

    deinit {
        if key != 0 { MappingDamage.closed(key) }
        ck_mapguard_unregister(identity.slot)
        munmap(UnsafeMutableRawPointer(mutating: base), length)
    }
}

/// What `MappingDamage` keeps of a live mapping: enough to tell whether it was damaged.
struct MappedFileIdentity: Sendable {
    let path: String
    let length: Int
    /// The guard's slot (`ck_mapguard_register`), -1 when unguarded.
    let slot: Int32
    /// The mapped file's device and inode; nil when `fstat` failed (only the guard then tells).
    let device: UInt64?
    let inode: UInt64

    func damage() -> String? {
        if slot >= 0 && ck_mapguard_faulted(slot) != 0 {
            return "part of it could not be read (another program cut the file short, or the disk failed)"
        }
        // The same file (a new file renamed over the name leaves this mapping intact), now shorter.
        var st = stat()
        if let device, stat(path, &st) == 0, UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode, Int(st.st_size) < length {
            return "another program cut it short to \(st.st_size) bytes (it had \(length))"
        }
        return nil
    }
}

/// Damage to mapped index files across the process, for work that reads many of them (a command,
/// a new generation built from an old one): every live mapping is checked, and mappings already
/// closed are remembered if they were damaged when they closed.
package enum MappingDamage {
    private struct State {
        var live: [Int: MappedFileIdentity] = [:]
        var nextKey = 0
        /// Damage found as mappings closed, oldest first.
        var closed: [(path: String, reason: String)] = []
    }
    private static let state = Locked(State())

    /// Records a new mapping; returns its key.
    static func opened(_ id: MappedFileIdentity) -> Int {
        state.withLock { s in
            s.nextKey += 1
            s.live[s.nextKey] = id
            return s.nextKey
        }
    }

    /// The mapping is about to go: remembered if it was damaged.
    static func closed(_ key: Int) {
        guard let id = state.withLock({ $0.live.removeValue(forKey: key) }), let reason = id.damage() else { return }
        state.withLock { $0.closed.append((id.path, reason)) }
    }

    /// A point to check from: damage found in mappings closed before it is not reported by
    /// `requireNone(since:)` (live mappings are always checked).
    package static func mark() -> Int { state.withLock { $0.closed.count } }

    /// Throws the first damage found: in a mapping still open, or in one closed after `mark`.
    package static func requireNone(since mark: Int = 0) throws {
        let (live, closed) = state.withLock { s in (Array(s.live.values), Array(s.closed.dropFirst(mark))) }
        if let first = closed.first { throw error(path: first.path, reason: first.reason) }
        for id in live {
            if let reason = id.damage() { throw error(path: id.path, reason: reason) }
        }
    }

    /// Throws the first damage found in a mapping still open: before writing a file computed from
    /// them (metrics.json, a report, a CSV) where no command's mark is at hand.
    package static func requireLiveNone() throws {
        try requireNone(since: mark())
    }

    package static let indexHint = "the index is damaged: rebuild it, or run the command again if it was being replaced"

    static func error(path: String, reason: String, hint: String = indexHint) -> EmbedScopeError {
        EmbedScopeError(.truncated, "changed while it was being read: \(reason); what was read from it is discarded", path: path, hint: hint)
    }
}

/// A file the user gives (vectors, a checkpoint, weights), read through a guarded mapping: a file
/// another program cuts short meanwhile is an error, not SIGBUS (`Data(contentsOf:options:
/// .alwaysMapped)` ended the process) and not zeros read as values.
package enum MappedInput {
    /// Runs `body` on the file's bytes (valid only during the call: copy what is kept), then
    /// checks that the file was whole throughout. Refuses what is not a regular file (a FIFO would block).
    package static func read<T>(_ url: URL, _ body: (Data) throws -> T) throws -> T {
        try RegularFile.requireRegularInput(url)
        var st = stat()
        guard stat(url.path, &st) == 0 else {
            throw EmbedScopeError(errno == ENOENT ? .notFound : .io, "cannot read: \(String(cString: strerror(errno)))", path: url.path)
        }
        if st.st_size == 0 { return try body(Data()) }  // nothing to map (mmap refuses length 0)
        let m = try ReadOnlyMapping(path: url.path, minimumSize: 0, header: "", tracked: false)
        let result = try withExtendedLifetime(m) {
            try body(Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: m.base), count: m.length, deallocator: .none))
        }
        try m.requireIntact(hint: "another program changed the file while embedscope read it; run the command again once it is complete")
        return result
    }
}
