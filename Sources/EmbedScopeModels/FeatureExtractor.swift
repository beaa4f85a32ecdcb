import EmbedScopeCore
import EmbedScopeImages
/// A CNN that turns preprocessed images into penultimate-layer embeddings (and the logits of
/// its classifier head). Implementations are immutable after `init` and safe to share between
/// threads; `forward` may be called concurrently.
public protocol FeatureExtractor: AnyObject, Sendable {
    /// "efficientnet-lite0", "resnet50", ...
    var name: String { get }
    /// Input images are inputSize × inputSize (224).
    var inputSize: Int { get }
    /// Length of the embedding: 1280 (EfficientNet-Lite0), 512 (ResNet-18/34), 2048 (ResNet-50).
    var featureDim: Int { get }
    /// Rows of the classifier head (1000 for ImageNet, or a fine-tuned head's).
    var classCount: Int { get }
    /// Batched forward. `input`: n images, each 3×inputSize×inputSize, CHW planar float32,
    /// already normalized. Returns features [n × featureDim] and logits [n × classCount], row-major.
    func forward(_ input: [Float], count n: Int) throws -> (features: [Float], logits: [Float])
    /// The classifier head as prototypes: weights [classCount × featureDim] row-major, bias [classCount].
    var head: (weights: [Float], bias: [Float]) { get }
}

extension FeatureExtractor {
    /// Throws unless `input` holds exactly `n` images of 3×inputSize×inputSize floats.
    func checkInput(_ input: [Float], count n: Int) throws {
        guard n >= 0 else { throw EmbedScopeError(.invalidArgument, "\(name): image count \(n) is negative") }
        let per = 3 * inputSize * inputSize
        guard input.count == n * per else {
            throw EmbedScopeError(.shapeMismatch,
                                  "\(name): input holds \(input.count) floats, \(n) images of 3×\(inputSize)×\(inputSize) need \(n * per)",
                                  hint: "pass CHW planar float32 images, already resized to \(inputSize)×\(inputSize) and normalized")
        }
    }
}
