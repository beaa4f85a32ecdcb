import Foundation
import EmbedScopeCore
import EmbedScopeImages

/// How to read a checkpoint and feed its network, beyond the architecture's defaults: the key
/// prefix (`--strip-prefix`; nil = found from the architecture's anchor keys, see `KeyPrefix`) and
/// the preprocessing the checkpoint was trained with (`--resize`, `--crop`, `--mean`, `--std`; each
/// nil keeps the model's default, docs/preprocessing.md).
public struct ModelOptions: Sendable, Equatable {
    public var stripPrefix: String? = nil
    /// Short side after resizing, in pixels.
    public var resize: Int? = nil
    /// Side of the center crop = the network's input side.
    public var crop: Int? = nil
    /// Per-channel mean and std on [0, 1] inputs, as torchvision's `Normalize` takes them
    /// (stored ×255, since `Preprocessing` works on [0, 255]).
    public var mean: [Float]? = nil
    public var std: [Float]? = nil
    /// A whole recorded preprocessing (from `meta.preprocessing`), used instead of the model's default.
    public var recordedPreprocessing: Preprocessing? = nil

    public init(stripPrefix: String? = nil, resize: Int? = nil, crop: Int? = nil, mean: [Float]? = nil, std: [Float]? = nil) {
        self.stripPrefix = stripPrefix; self.resize = resize; self.crop = crop; self.mean = mean; self.std = std
    }

    /// The given values on their own (ranges, three finite numbers, std > 0), before any work: the
    /// command line checks them as usage errors.
    public func checkValues() throws {
        if let resize, !(1...8192).contains(resize) { throw EmbedScopeError(.invalidArgument, "--resize \(resize) is out of range (1…8192)") }
        if let crop, !(32...1024).contains(crop) { throw EmbedScopeError(.invalidArgument, "--crop \(crop) is out of range (32…1024)") }
        for (name, v) in [("--mean", mean), ("--std", std)] {
            guard let v else { continue }
            guard v.count == 3 else {
                throw EmbedScopeError(.invalidArgument, "\(name) needs 3 values (R,G,B), got \(v.count)", hint: "e.g. \(name) 0.485,0.456,0.406")
            }
            guard v.allSatisfy({ $0.isFinite }) else {
                throw EmbedScopeError(.invalidArgument, "\(name) needs finite values (R,G,B), got \(v.map { "\($0)" }.joined(separator: ","))",
                                      hint: "e.g. \(name) 0.485,0.456,0.406")
            }
        }
        // A std near 0 divides the pixels into infinities (1e-45 passed and every feature came out NaN).
        if let std, !std.allSatisfy({ $0 >= 1e-6 }) {
            throw EmbedScopeError(.invalidArgument, "--std values must be at least 1e-6, got \(std.map { "\($0)" }.joined(separator: ","))")
        }
    }

    /// `base` with the given fields replaced, checked.
    public func preprocessing(from base: Preprocessing, model: String) throws -> Preprocessing {
        try checkValues()
        var p = recordedPreprocessing ?? base
        if let resize { p.resizeShort = resize }
        if let crop { p.crop = crop }
        if let mean { p.mean = mean.map { $0 * 255 } }
        if let std { p.std = std.map { $0 * 255 } }
        if p.resizeShort < p.crop {
            throw EmbedScopeError(.invalidArgument, "--resize \(p.resizeShort) is smaller than the crop \(p.crop): the crop would reach outside the image",
                                  hint: "resize the short side to at least the crop (torchvision: Resize(\(p.crop)) then CenterCrop(\(p.crop)))")
        }
        return p
    }

    /// Preprocessing as recorded in the catalog (`meta.preprocessing`): JSON of `Preprocessing`.
    package static func record(_ p: Preprocessing) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(p)).flatMap { String(data: $0, encoding: .utf8) } ?? ""
    }

    /// The options that reproduce a recorded preprocessing and key prefix (for `query --image`).
    package static func recorded(preprocessing json: String?, prefix: String?) -> ModelOptions {
        var o = ModelOptions(stripPrefix: prefix)
        if let json, let p = try? JSONDecoder().decode(Preprocessing.self, from: Data(json.utf8)) {
            o.recordedPreprocessing = p
        }
        return o
    }
}
