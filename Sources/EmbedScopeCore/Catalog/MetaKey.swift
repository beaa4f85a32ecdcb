/// Names of `meta` keys that more than one layer reads (docs/index-format.md lists every key).
public enum MetaKey {
    /// Real paths (one per line) of the folders that symlinks in the data set lead to outside its
    /// root (`build` follows them as torchvision's ImageFolder does): the server serves images
    /// under the root and under these, nothing else.
    public static let datasetLinkedRoots = "datasetLinkedRoots"
    /// `epoch` of the checkpoint the embedding space was made with (PyTorch Lightning's top-level int).
    public static let checkpointEpoch = "checkpointEpoch"
    /// Its `global_step`.
    public static let checkpointStep = "checkpointStep"
    /// `k` of the `version_<k>` folder the checkpoint was found in (Lightning's logger layout).
    public static let checkpointVersion = "checkpointVersion"
    /// The prefix removed from the checkpoint's keys ("" none), so the model reloads the same way.
    public static let keyPrefix = "keyPrefix"
    /// The network input recipe as JSON (`resizeShort`, `crop`, `mean`, `std` on [0, 255]).
    public static let preprocessing = "preprocessing"

    /// `fileChecksum.<file>`: `crc32:` + 8 hex digits, the payload CRC in the header of the vector
    /// file `<file>` of this generation (every space's `.vec` and `.norms.vec`, every prototype
    /// set's file), recorded by every writer when it commits. `Index.open` compares each file's
    /// header with it: a file from another index (same shape, its own checksums intact) is refused.
    public static let fileChecksumPrefix = "fileChecksum."
    public static func fileChecksum(_ file: String) -> String { fileChecksumPrefix + file }
    public static func checksumText(_ crc: UInt32) -> String { "crc32:" + String(format: "%08x", crc) }

    /// Epoch, step and version recorded in `meta` (each nil when absent or not an integer).
    public static func checkpoint(_ meta: [String: String]) -> (epoch: Int?, step: Int?, version: Int?) {
        (meta[checkpointEpoch].flatMap { Int($0) }, meta[checkpointStep].flatMap { Int($0) }, meta[checkpointVersion].flatMap { Int($0) })
    }
}
