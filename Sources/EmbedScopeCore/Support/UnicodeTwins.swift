import Foundation

/// Names that are different bytes but the same Unicode text. Swift compares `String`s by canonical
/// equivalence, so "café" written with é (U+00E9, NFC) and with e + U+0301 (NFD) are equal as
/// dictionary keys, set members and in `==`, while Linux keeps them as two different files and
/// folders. Class folders or manifest classes spelled both ways were merged into one class, exit 0.
/// EmbedScope refuses such pairs where names come in (folders, manifests, heads) instead of
/// guessing which one was meant.
package enum UnicodeTwins {
    /// The first pair of `names` that are equal as Swift strings and differ in their UTF-8 bytes.
    package static func first(in names: some Sequence<String>) -> (String, String)? {
        var seen: [String: String] = [:]
        for n in names {
            if let other = seen[n] {
                if !other.utf8.elementsEqual(n.utf8) { return (other, n) }
            } else {
                seen[n] = n
            }
        }
        return nil
    }

    /// Whether `a` and `b` are the same text but not the same bytes.
    package static func areTwins(_ a: String, _ b: String) -> Bool { a == b && !a.utf8.elementsEqual(b.utf8) }

    /// "'café' (63 61 66 c3 a9) and 'café' (63 61 66 65 cc 81)": the two spellings, with their bytes.
    package static func describe(_ a: String, _ b: String) -> String {
        func bytes(_ s: String) -> String { s.utf8.prefix(48).map { String(format: "%02x", $0) }.joined(separator: " ") + (s.utf8.count > 48 ? " …" : "") }
        return "'\(a)' (\(bytes(a))) and '\(b)' (\(bytes(b)))"
    }

    /// The hint every refusal carries.
    package static let hint = "they differ only in Unicode normalization (NFC / NFD) and EmbedScope compares names as text: rename one (e.g. normalize every name to NFC); nothing was written"
}
