import EmbedScopeCore
import EmbedScopeImages

/// What `build` and `add` do with one image's network features before they are stored: NaN or
/// infinity is an error that points at the checkpoint (every image would follow: its weights, or
/// what they make of this image, overflow float32), and a row of zeros (a ReLU that silences the
/// image) has no direction to index, so the image is skipped with this reason, as an all-black
/// image is skipped from the pixel space.
enum FeatureRowCheck {
    static let zerosReason = "the network's features of this image are all zeros: no direction to index"

    /// nil when the row can be stored; the reason to skip the image when it is all zeros.
    /// `unchanged` ends the error's hint ("nothing was written", "nothing was changed").
    static func skipReason<C: Collection<Float>>(_ row: C, path: String, folder: String? = nil, unchanged: String) throws -> String? {
        if let bad = row.first(where: { !$0.isFinite }) {
            throw EmbedScopeError(.nonFinite, "the network's features of \(path) contain \(bad.isNaN ? "NaN" : "infinity")", path: folder,
                                  hint: "the checkpoint's weights (or what they make of this image) overflow float32: check the checkpoint; \(unchanged)")
        }
        return row.contains(where: { $0 != 0 }) ? nil : zerosReason
    }
}
