import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Paths with their symlinks resolved, and containment among such paths: one place for the
/// data-set scanner, the server's image access, `add` and `query --path`.
package enum RealPath {
    /// `realpath(3)` of `path`: absolute, symlinks and `.`/`..` resolved; nil when it does not exist
    /// (or cannot be resolved).
    package static func of(_ path: String) -> String? {
        guard let r = realpath(path, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    /// Whether the resolved path `p` is `root` or lies below it (compared by whole components).
    package static func isInside(_ p: String, _ root: String) -> Bool {
        p == root || p.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }
}
