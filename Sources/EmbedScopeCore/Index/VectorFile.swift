import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A read-only, memory-mapped vector file. Opening validates the 64-byte header, the file's
/// size against it, and maps the file: O(1), no load step. The payload checksum is checked by
/// `verify()` (O(n)), not on open.
/// `@unchecked`: the mapping is a read-only (`PROT_READ`) map (`ReadOnlyMapping`), unmapped when
/// the file goes; every stored property is immutable.
public final class VectorFile: @unchecked Sendable {
    public let url: URL
    package let header: VectorFileHeader
    private let mapping: ReadOnlyMapping
    /// Set once `verify` has passed on this mapping (`verifyOnce`).
    private let verified = Atomic<Bool>(false)

    public var rows: Int { Int(header.rows) }
    public var dim: Int { Int(header.dim) }
    /// Row stride in Float elements (a multiple of 16).
    public var stride: Int { Int(header.strideBytes) / 4 }
    public var fileSize: Int { mapping.length }

    /// First element of row 0. Valid while `self` is alive.
    public var base: UnsafePointer<Float> {
        (mapping.base + Int(header.payloadOffset)).assumingMemoryBound(to: Float.self)
    }

    package init(url: URL) throws {
        self.url = url
        let m = try ReadOnlyMapping(path: url.path, minimumSize: VectorFileHeader.size, header: "header")
        header = try VectorFileHeader.decode(m.prefix(VectorFileHeader.size), fileSize: m.length, path: url.path)
        // O(1): bytes inserted into (or appended to) the file after it was written — the rows
        // after an insertion are shifted, and a shift can keep a row's length.
        try header.requireExactSize(m.length, path: url.path)
        mapping = m
    }

    /// Row `i` (its `dim` data elements, not the padding).
    @inline(__always)
    public func row(_ i: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: base + i * stride, count: dim)
    }

    /// Each row's CRC-32 (`VectorFileHeader.Flags.rowChecks`), after the payload; nil in files
    /// written before row checks.
    package var rowChecks: UnsafePointer<UInt32>? {
        guard header.flags.contains(.rowChecks) else { return nil }
        return (mapping.base + Int(header.payloadOffset + header.payloadLength)).assumingMemoryBound(to: UInt32.self)
    }

    /// Whether row `i`'s data bytes match its stored check (true in a file without row checks):
    /// O(dim), for the rows a result shows.
    package func rowMatchesCheck(_ i: Int) -> Bool {
        guard let checks = rowChecks else { return true }
        return UInt32(littleEndian: checks[i]) == Self.rowCheck(row(i))
    }

    /// The check stored for a row: CRC-32 of its `dim` floats' bytes (little-endian).
    package static func rowCheck(_ row: UnsafeBufferPointer<Float>) -> UInt32 {
        Checksum.crc32(UnsafeRawBufferPointer(row))
    }

    /// Recomputes the payload CRC-32 and compares it with the header's, and every row's check
    /// with the stored one. Reads the whole file. (The file's size was checked on open, against
    /// the mapping this reads.)
    public func verify() throws {
        let payload = UnsafeRawBufferPointer(start: UnsafeRawPointer(base), count: Int(header.payloadLength))
        let crc = Checksum.crc32(payload, threads: CPUBudget.threads)
        guard crc == header.payloadCRC else {
            try mapping.requireIntact()  // cut short while it was read: say that instead
            throw EmbedScopeError(.checksumMismatch, "payload checksum mismatch (stored \(hex(header.payloadCRC)), computed \(hex(crc)))",
                                  path: url.path, hint: "the index is damaged; rebuild it")
        }
        guard rowChecks != nil else { return }
        // The payload is as written, so a mismatch is in the checks themselves.
        let n = rows, t = max(1, min(CPUBudget.threads, n / 4096))
        let firstBad = Locked<Int?>(nil)
        parallelFor(t) { part in
            for r in (part * n / t)..<((part + 1) * n / t) where !self.rowMatchesCheck(r) {
                firstBad.withLock { $0 = min($0 ?? r, r) }
                return
            }
        }
        if let r = firstBad.withLock({ $0 }) {
            try mapping.requireIntact()
            throw EmbedScopeError(.checksumMismatch, "the check stored for row \(r) does not match the row (stored \(hex(UInt32(littleEndian: rowChecks![r]))), computed \(hex(Self.rowCheck(row(r)))))",
                                  path: url.path, hint: "the index is damaged; rebuild it")
        }
        verified.store(true, ordering: .releasing)
    }

    /// `verify`, unless it has passed already on this mapping (a server answering many analyses
    /// of one generation reads the file's checksum once).
    package func verifyOnce() throws {
        if verified.load(ordering: .acquiring) { return }
        try verify()
    }

    /// Hint the kernel that the whole payload will be read sequentially.
    public func adviseSequential() {
        mapping.adviseSequential()
    }

    /// Throws if another program cut the file short (or it could not be read) since it was
    /// mapped: what was computed from its rows is to be discarded (`ReadOnlyMapping`).
    public func requireIntact() throws { try mapping.requireIntact() }
}

/// Streams rows into a new vector file: header placeholder, rows padded to the stride, then the
/// final header (row count, checksums) and fsync. Used only inside a temporary build directory.
package final class VectorFileWriter {
    package let url: URL
    package let dim: Int
    package let flags: VectorFileHeader.Flags
    private let strideBytes: Int
    private var fd: Int32
    private var buffer: [UInt8]
    private var buffered = 0
    private var crc: UInt32 = 0
    /// Each row's check (`rowChecks`), written after the payload by `finish`.
    private var checks: [UInt32] = []
    public private(set) var rows = 0

    /// `flags` gains `.rowChecks`: every file written now carries them.
    package init(url: URL, dim: Int, flags: VectorFileHeader.Flags) throws {
        let flags = flags.union(.rowChecks)
        guard dim >= 1 else { throw EmbedScopeError(.invalidArgument, "vector dimension must be at least 1, got \(dim)") }
        self.url = url
        self.dim = dim
        self.flags = flags
        self.strideBytes = VectorFileHeader.stride(dim: dim, elementType: .float32)
        // A new inode every time: in a builder based on an existing index the name may be a hard
        // link to the live index's file, and truncating it in place would damage that index.
        if unlink(url.path) != 0 && errno != ENOENT {
            throw EmbedScopeError(.io, "cannot replace: \(String(cString: strerror(errno)))", path: url.path)
        }
        fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EmbedScopeError(.io, "cannot create: \(String(cString: strerror(errno)))", path: url.path) }
        buffer = [UInt8](repeating: 0, count: max(1 << 22, strideBytes))
        try writeAll(VectorFileHeader(rows: 0, dim: dim, flags: flags).encoded(), at: 0)
        _ = lseek(fd, off_t(VectorFileHeader.size), SEEK_SET)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends one row of exactly `dim` values.
    package func append(_ row: UnsafeBufferPointer<Float>) throws {
        precondition(row.count == dim, "row has \(row.count) values, file dim is \(dim)")
        if buffered + strideBytes > buffer.count { try flush() }
        buffer.withUnsafeMutableBytes { dst in
            let p = dst.baseAddress! + buffered
            memcpy(p, row.baseAddress!, dim * 4)
            let pad = strideBytes - dim * 4
            if pad > 0 { memset(p + dim * 4, 0, pad) }
        }
        buffered += strideBytes
        rows += 1
        if flags.contains(.rowChecks) { checks.append(VectorFile.rowCheck(row).littleEndian) }
    }

    package func append(_ row: [Float]) throws {
        try row.withUnsafeBufferPointer { try append($0) }
    }

    /// Writes the header, fsyncs and closes. The file is complete only after this returns.
    package func finish() throws {
        try flush()
        // The row checks follow the payload (the file offset is where the last row ended).
        try checks.withUnsafeBytes { try writeSequential($0) }
        let header = VectorFileHeader(rows: rows, dim: dim, flags: flags, payloadCRC: crc)
        try writeAll(header.encoded(), at: 0)
        guard fsync(fd) == 0 else { throw EmbedScopeError(.io, "fsync failed: \(String(cString: strerror(errno)))", path: url.path) }
        close(fd)
        fd = -1
    }

    private func flush() throws {
        guard buffered > 0 else { return }
        try buffer.withUnsafeBytes { b in
            let chunk = UnsafeRawBufferPointer(rebasing: b[0..<buffered])
            crc = Checksum.crc32(chunk, seed: crc)
            try writeSequential(chunk)
        }
        buffered = 0
    }

    /// All of `bytes` at the file's offset (short writes and EINTR retried).
    private func writeSequential(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw EmbedScopeError(.io, "write failed: \(String(cString: strerror(errno)))", path: url.path) }
            done += n
        }
    }

    private func writeAll(_ bytes: [UInt8], at offset: Int) throws {
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard n == bytes.count else { throw EmbedScopeError(.io, "write failed: \(String(cString: strerror(errno)))", path: url.path) }
    }
}
