import EmbedScopeCore
import EmbedScopeImages
/// The central directory of a zip archive, read in place from the (memory-mapped) file: just
/// enough zip for `torch.save` archives, whose entries are stored uncompressed. Handles ZIP64
/// (PyTorch always writes the ZIP64 end records). Every offset and length read from the file is
/// checked against the file size before use; nothing is allocated from a size the file claims.
///
/// Written here rather than taken from ZIPFoundation: we only need the directory and stored
/// entries; we want to read storages in place from the mapping (ZIPFoundation copies each entry
/// through a chunked consumer closure); and ZIPFoundation converts and sums 64-bit offsets and
/// sizes from the file without checks — `Data.readStruct(from:at:)` does `off_t(offset)` on a
/// ZIP64 offset (a trap above Int64.max) and `Archive.makeIterator` adds file-supplied UInt64
/// sizes — so one flipped bit in a ZIP64 field would crash the process instead of throwing.
struct ZipDirectory {
    struct Entry {
        let name: String
        let flags: UInt16
        let method: UInt16
        let crc32: UInt32
        let compressedSize: Int
        let uncompressedSize: Int
        let localHeaderOffset: Int
    }

    enum Failure: Error {
        /// What is wrong, for the caller to wrap with the path.
        case malformed(String)
        /// A well-formed entry this reader does not read (compressed: the archive was re-zipped).
        case compressed(String)
    }

    /// Entries in directory order.
    let entries: [Entry]
    private let byName: [String: Int]

    static let maxCommentLength = 0xFFFF

    init(_ raw: UnsafeRawBufferPointer) throws {
        let r = Reader(raw: raw)
        // End of central directory: 22 bytes + up to 64 KiB of comment, searched from the end.
        guard raw.count >= 22 else { throw Failure.malformed("too short to be a zip archive") }
        var eocd = -1
        var p = raw.count - 22
        let stop = max(0, raw.count - 22 - Self.maxCommentLength)
        while p >= stop {
            if r.u32(at: p) == 0x0605_4B50 { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else {
            throw Failure.malformed("no end-of-central-directory record: the archive is truncated or not a zip file")
        }
        var entryCount = Int(r.u16(at: eocd + 10) ?? 0)
        var cdSize = Int(r.u32(at: eocd + 12) ?? 0)
        var cdOffset = Int(r.u32(at: eocd + 16) ?? 0)
        // ZIP64: a locator right before the classic record points at the ZIP64 record.
        if eocd >= 20, r.u32(at: eocd - 20) == 0x0706_4B50 {
            guard let at = r.u64(at: eocd - 12), at <= UInt64(raw.count), r.u32(at: Int(at)) == 0x0606_4B50,
                  let n = r.u64(at: Int(at) + 32), let size = r.u64(at: Int(at) + 40), let offset = r.u64(at: Int(at) + 48),
                  size <= UInt64(raw.count), offset <= UInt64(raw.count), n <= UInt64(raw.count)
            else { throw Failure.malformed("ZIP64 end-of-central-directory record is damaged") }
            entryCount = Int(n)
            cdSize = Int(size)
            cdOffset = Int(offset)
        }
        guard cdOffset <= raw.count, cdSize <= raw.count - cdOffset else {
            throw Failure.malformed("central directory lies outside the file: the archive is truncated")
        }
        guard entryCount <= cdSize / 46 else { throw Failure.malformed("central directory is too small for its \(entryCount) entries") }

        var entries: [Entry] = []
        entries.reserveCapacity(entryCount)
        var at = cdOffset
        let end = cdOffset + cdSize
        for i in 0..<entryCount {
            guard at <= end - 46, r.u32(at: at) == 0x0201_4B50,
                  let flags = r.u16(at: at + 8), let method = r.u16(at: at + 10), let crc = r.u32(at: at + 16),
                  let compressed32 = r.u32(at: at + 20), let uncompressed32 = r.u32(at: at + 24),
                  let nameLength = r.u16(at: at + 28), let extraLength = r.u16(at: at + 30), let commentLength = r.u16(at: at + 32),
                  let local32 = r.u32(at: at + 42)
            else { throw Failure.malformed("central directory entry \(i) is damaged") }
            let nameStart = at + 46, extraStart = nameStart + Int(nameLength), next = extraStart + Int(extraLength) + Int(commentLength)
            guard next <= end else { throw Failure.malformed("central directory entry \(i) runs past the directory") }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: raw[nameStart..<extraStart]), as: UTF8.self)
            var compressed = UInt64(compressed32), uncompressed = UInt64(uncompressed32), local = UInt64(local32)
            // ZIP64 extended information (id 1): the 64-bit values of the fields saturated above, in order.
            var e = extraStart
            let extraEnd = extraStart + Int(extraLength)
            while e + 4 <= extraEnd, let id = r.u16(at: e), let length = r.u16(at: e + 2) {
                let body = e + 4, bodyEnd = body + Int(length)
                guard bodyEnd <= extraEnd else { throw Failure.malformed("central directory entry \(i) has a damaged extra field") }
                if id == 1 {
                    var f = body
                    func take(_ value: inout UInt64) throws {
                        guard f + 8 <= bodyEnd, let v = r.u64(at: f) else { throw Failure.malformed("entry \(i) has a short ZIP64 field") }
                        value = v
                        f += 8
                    }
                    if uncompressed32 == 0xFFFF_FFFF { try take(&uncompressed) }
                    if compressed32 == 0xFFFF_FFFF { try take(&compressed) }
                    if local32 == 0xFFFF_FFFF { try take(&local) }
                }
                e = bodyEnd
            }
            let limit = UInt64(raw.count)
            guard compressed <= limit, uncompressed <= limit, local <= limit else {
                throw Failure.malformed("entry '\(name.prefix(80))' claims a size or offset beyond the end of the file")
            }
            entries.append(Entry(name: name, flags: flags, method: method, crc32: crc, compressedSize: Int(compressed),
                                 uncompressedSize: Int(uncompressed), localHeaderOffset: Int(local)))
            at = next
        }
        self.entries = entries
        // One name, one entry: readers disagree on which copy of a repeated name counts (Python's
        // zipfile takes the last, PyTorch's reader may take either), so weights read from such an
        // archive would depend on the reader — refused as ambiguous (held-out sweep: a second
        // data/0 gave other weights under torch.load, ours took the first).
        var byName: [String: Int] = [:]
        for (i, entry) in entries.enumerated() {
            if byName.updateValue(i, forKey: entry.name) != nil {
                throw Failure.malformed("the archive holds the entry '\(entry.name.prefix(80))' more than once: which copy is meant is up to the reader")
            }
        }
        self.byName = byName
    }

    subscript(name: String) -> Entry? {
        byName[name].map { entries[$0] }
    }

    /// The byte range of a stored entry's data, after checking its local header, its method
    /// and (when `verify`) its CRC-32.
    func dataRange(of entry: Entry, in raw: UnsafeRawBufferPointer, verify: Bool = true) throws -> Range<Int> {
        let r = Reader(raw: raw)
        let at = entry.localHeaderOffset
        guard let signature = r.u32(at: at), signature == 0x0403_4B50,
              let nameLength = r.u16(at: at + 26), let extraLength = r.u16(at: at + 28)
        else { throw Failure.malformed("entry '\(entry.name.prefix(80))' has no local header where the directory says") }
        guard entry.flags & 1 == 0 else { throw Failure.malformed("entry '\(entry.name.prefix(80))' is encrypted") }
        guard entry.method == 0 else {
            throw Failure.compressed("entry '\(entry.name.prefix(80))' is compressed (method \(entry.method)); torch.save stores entries uncompressed, and this reader maps them where they are")
        }
        guard entry.compressedSize == entry.uncompressedSize else {
            throw Failure.malformed("entry '\(entry.name.prefix(80))' is stored, yet the directory gives it \(entry.compressedSize) bytes stored and \(entry.uncompressedSize) uncompressed: the archive is damaged")
        }
        let start = at + 30 + Int(nameLength) + Int(extraLength)
        guard start <= raw.count, entry.compressedSize <= raw.count - start else {
            throw Failure.malformed("entry '\(entry.name.prefix(80))' runs past the end of the file: the archive is truncated")
        }
        let range = start..<(start + entry.compressedSize)
        if verify, Checksum.crc32(UnsafeRawBufferPointer(rebasing: raw[range])) != entry.crc32 {
            throw Failure.malformed("entry '\(entry.name.prefix(80))' fails its CRC-32 check: the file is damaged")
        }
        return range
    }

    /// Little-endian reads that return nil outside the buffer.
    private struct Reader {
        let raw: UnsafeRawBufferPointer

        private func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T? {
            guard offset >= 0, offset <= raw.count - MemoryLayout<T>.size else { return nil }
            return T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
        }

        func u16(at offset: Int) -> UInt16? { load(UInt16.self, at: offset) }
        func u32(at offset: Int) -> UInt32? { load(UInt32.self, at: offset) }
        func u64(at offset: Int) -> UInt64? { load(UInt64.self, at: offset) }
    }
}
