import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Index {
    /// True when `other` (possibly another generation of the same index) reads the very same
    /// vectors for `space` — the same file (a later generation hard-links it), or a file whose
    /// 64-byte header, dimensions and payload CRC included, is identical — with the same labels:
    /// classes, and every row's class and split (`Catalog.labelDigest`). Used before a result
    /// computed from one generation (metrics, a probe's head) is written into the current one:
    /// after a rebuild it no longer describes the index and is not recorded. (A rebuild with the
    /// same vectors and other labels wrote an identical header: the old labels' silhouette and
    /// probe were recorded into it, exit 0.)
    public func hasSameVectorsAndLabels(as other: Index, space: String) throws -> Bool {
        if directory.standardizedFileURL == other.directory.standardizedFileURL { return true }
        guard try sameVectorFile(as: other, space: space) else { return false }
        return try catalog.labelDigest() == other.catalog.labelDigest()
    }

    private func sameVectorFile(as other: Index, space: String) throws -> Bool {
        guard let a = try? self.space(space), let b = try? other.space(space) else { return false }
        let pa = directory.appendingPathComponent(a.file).path, pb = other.directory.appendingPathComponent(b.file).path
        var sa = stat(), sb = stat()
        guard stat(pa, &sa) == 0, stat(pb, &sb) == 0 else { return false }
        if sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino { return true }
        guard a.rows == b.rows, a.dim == b.dim else { return false }
        func header(_ path: String) -> [UInt8]? {
            guard let h = FileHandle(forReadingAtPath: path) else { return nil }
            defer { try? h.close() }
            return (try? h.read(upToCount: VectorFileHeader.size)).map { [UInt8]($0) }
        }
        guard let ha = header(pa), let hb = header(pb), ha.count == VectorFileHeader.size else { return false }
        return ha == hb
    }
}
