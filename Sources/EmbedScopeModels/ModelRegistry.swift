import Foundation
import EmbedScopeCore
import EmbedScopeImages

/// A loaded model ready to embed images: the network, its input recipe, and the names of its
/// head's rows.
public struct LoadedModel: Sendable {
    public var extractor: FeatureExtractor
    public var preprocessing: Preprocessing
    public var weights: URL
    /// Names of the classifier head's rows (the prototype set), and where they came from.
    public var headNames: [String]
    public var headNamesSource: String
    /// Prototype set name: `imagenet` for a 1000-class ImageNet head, else `head`.
    public var prototypeSet: String
    /// Epoch / step / version of the training run, when the checkpoint says (`CheckpointInfo`).
    package var checkpoint = CheckpointInfo()
    /// The key prefix removed from the checkpoint's keys and the tensors left out (`KeyPrefix`).
    package var keyPrefix = KeyPrefix(prefix: "", detected: true)
}

/// The models EmbedScope runs natively.
public enum ModelRegistry {
    public static let names = ["efficientnet-lite0", "resnet18", "resnet34", "resnet50"]

    /// Loads `name` from `weights` (or its default location). `datasetClasses` names a
    /// fine-tuned head whose row count matches the data set's classes (sorted, as ImageFolder).
    public static func load(_ name: String, weights: URL?, datasetClasses: [String] = [], options: ModelOptions = ModelOptions()) throws -> LoadedModel {
        let url = try ModelWeights.locate(model: name, override: weights)
        let anchors = name == "efficientnet-lite0" ? ["_conv_stem.weight", "_bn0.weight"] : ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight"]
        guard names.contains(name) else {
            throw EmbedScopeError(.invalidArgument, "unknown model '\(name)' (native models: \(names.joined(separator: ", ")))",
                                  hint: "for any other PyTorch model, export embeddings with Scripts/extract.py and use `embedscope import`")
        }
        let (raw, info) = try TorchCheckpoint.loadWithInfo(contentsOf: url, stripPrefix: "")
        // Under `ulimit -v`, a clear error before the network is built from these tensors: their
        // weights with BatchNorm folded in, packed for the kernels and (ResNet) Winograd-transformed
        // — measured at up to ~5× the tensors (ResNet-18: 47 MB of tensors, built in ~330 MB of room,
        // not in 310). (The file's size says little: a checkpoint's storages may be shared views.)
        let tensorBytes = raw.values.reduce(0.0) { $0 + Double($1.data.count) * 4 }
        try AddressSpace.require(estimate: 5 * tensorBytes, for: "building \(name) from \(url.lastPathComponent)")
        let (state, keyPrefix) = try StateDictPrefix.select(raw, anchors: anchors, given: options.stripPrefix, model: name, path: url.path)
        let extractor: FeatureExtractor
        let prep: Preprocessing
        switch name {
        case "efficientnet-lite0":
            prep = try options.preprocessing(from: .efficientNetLite, model: name)
            extractor = try EfficientNetLite0(stateDict: state, inputSize: prep.crop)
        case "resnet18", "resnet34", "resnet50":
            let depth: ResNet.Depth = name == "resnet18" ? .r18 : name == "resnet34" ? .r34 : .r50
            prep = try options.preprocessing(from: .torchvisionImageNet, model: name)
            extractor = try ResNet(depth: depth, stateDict: state, inputSize: prep.crop)
        default:
            throw EmbedScopeError(.invalidArgument, "unknown model '\(name)' (native models: \(names.joined(separator: ", ")))",
                                  hint: "for any other PyTorch model, export embeddings with Scripts/extract.py and use `embedscope import`")
        }
        let c = extractor.classCount
        let headNames: [String], source: String, set: String
        if c == ImageNetClasses.names.count {
            (headNames, source, set) = (ImageNetClasses.names, "ImageNet-1k class names", "imagenet")
        } else if c == datasetClasses.count {
            (headNames, source, set) = (datasetClasses, "the data set's classes, sorted (ImageFolder order)", "head")
        } else {
            (headNames, source, set) = ((0..<c).map(String.init), "row numbers", "head")
        }
        return LoadedModel(extractor: extractor, preprocessing: prep, weights: url, headNames: headNames,
                           headNamesSource: source, prototypeSet: set, checkpoint: info, keyPrefix: keyPrefix)
    }
}
