import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one "write a directory aside, then swap it in": a new index generation (`IndexBuilder`)
/// and a report folder (`ReportWriter`) are both written complete under a temporary name in
/// the destination's parent folder, then renamed into place, so a reader sees the old
/// directory or the new one, never half of one.
package enum DirectorySwap {
    /// A fresh name beside `destination` for the directory being written:
    /// `.<name>.tmp-<UUID>` (hidden; not created here).
    package static func temporary(beside destination: URL) -> URL {
        destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).tmp-\(UUID().uuidString)")
    }

    /// Makes the complete directory `temporary` (same file system) the one at `destination`:
    /// fsyncs its entries and itself, renames it into place, and fsyncs the parent so the
    /// switch is durable. A directory already at `destination` is first renamed aside
    /// (`.<name>.old-<UUID>`), put back if the second rename fails, and removed after it.
    /// On failure `temporary` is left for the caller to remove.
    package static func install(_ temporary: URL, at destination: URL) throws {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: temporary.path)) ?? [] {
            try IndexDirectory.fsyncPath(temporary.appendingPathComponent(name).path)
        }
        try IndexDirectory.fsyncPath(temporary.path)
        let parent = destination.deletingLastPathComponent()
        var st = stat()
        if lstat(destination.path, &st) == 0 {
            let old = parent.appendingPathComponent(".\(destination.lastPathComponent).old-\(UUID().uuidString)")
            try move(destination, old)
            do { try move(temporary, destination) } catch { try? move(old, destination); throw error }
            try? fm.removeItem(at: old)
        } else {
            try move(temporary, destination)
        }
        try IndexDirectory.fsyncPath(parent.path)
    }

    private static func move(_ a: URL, _ b: URL) throws {
        guard rename(a.path, b.path) == 0 else {
            throw EmbedScopeError(.io, "cannot rename \(a.lastPathComponent) to \(b.lastPathComponent): \(String(cString: strerror(errno)))",
                                  path: b.path)
        }
    }
}
