import EmbedScopeCore
import Foundation

/// File names for `embedscope checkpoint --export`: one `<name>.npy` per tensor, `/` → `_`.
package enum CheckpointExport {
    /// Tensor name → file name. Two tensors whose names map to the same file (`a/b` and `a_b`,
    /// or names differing only in case on a case-insensitive file system) are refused before
    /// anything is written, instead of one silently overwriting the other; so is a name that
    /// would not be a plain file name.
    package static func fileNames(_ names: [String], in dir: URL) throws -> [String: String] {
        var byFile: [String: String] = [:]
        var result: [String: String] = [:]
        for name in names {
            let file = name.replacingOccurrences(of: "/", with: "_") + ".npy"
            guard !name.isEmpty, !file.hasPrefix("."), !file.contains("\0"), file.utf8.count <= 255 else {
                throw EmbedScopeError(.checkpoint, "tensor name '\(name)' cannot be exported as a file name", path: dir.path,
                                      hint: "rename the tensor in the checkpoint; nothing was written")
            }
            let key = file.lowercased()
            if let other = byFile[key] {
                throw EmbedScopeError(.checkpoint, "tensors '\(other)' and '\(name)' would both be exported as \(file)", path: dir.path,
                                      hint: "rename one of them in the checkpoint (torch.save a state_dict with distinct names); nothing was written")
            }
            byFile[key] = name
            result[name] = file
        }
        return result
    }
}
