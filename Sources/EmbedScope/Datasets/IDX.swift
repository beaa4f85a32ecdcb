import CZlib
import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

/// The IDX format of MNIST-style data sets (big-endian header: two zero bytes, a type code,
/// the number of dimensions, one u32 per dimension, then the data), gzip-compressed or not.
public struct IDXArray: Sendable {
    public var shape: [Int]
    public var bytes: [UInt8]

    /// The most bytes an IDX payload may hold: 1 GiB (Fashion-MNIST's training images are 47 MB).
    public static let maximumPayload = 1 << 30

    /// Reads an unsigned-byte IDX file (`.gz` or plain: zlib's gzread handles both).
    ///
    /// The header is read first and the payload's size, from the shape, is overflow-checked and
    /// bounded (`maximumPayload`, and the address-space limit) before anything is allocated; then
    /// exactly that many bytes are read, and one more is an error. Before, the whole decompressed
    /// stream was read into memory first: a small `.gz` that inflates to tens of gigabytes (a
    /// "zip bomb", or a corrupt header) ended in the kernel's out-of-memory kill.
    public static func read(_ url: URL) throws -> IDXArray {
        try RegularFile.requireRegularInput(url)  // gzopen on a FIFO would wait for a writer for ever
        guard let gz = gzopen(url.path, "rb") else {
            throw EmbedScopeError(errno == ENOENT ? .notFound : .io, "cannot open IDX file", path: url.path,
                                  hint: "install the data set: Scripts/setup.sh (Debian package dataset-fashion-mnist)")
        }
        defer { gzclose(gz) }
        /// Reads up to `count` bytes into `buffer` (fewer only at the end of the stream).
        func fill(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            var done = 0
            while done < buffer.count {
                let n = gzread(gz, buffer.baseAddress! + done, UInt32(min(buffer.count - done, 1 << 24)))
                if n < 0 { throw EmbedScopeError(.dataset, "corrupt gzip stream", path: url.path) }
                if n == 0 { break }
                done += Int(n)
            }
            return done
        }
        var magic = [UInt8](repeating: 0, count: 4)
        guard try magic.withUnsafeMutableBytes(fill) == 4, magic[0] == 0, magic[1] == 0 else {
            throw EmbedScopeError(.dataset, "not an IDX file (bad magic)", path: url.path)
        }
        guard magic[2] == 0x08 else {
            throw EmbedScopeError(.dataset, "IDX element type 0x\(String(magic[2], radix: 16)) is not unsigned byte", path: url.path)
        }
        let ndim = Int(magic[3])
        var dims = [UInt8](repeating: 0, count: 4 * ndim)
        guard ndim >= 1, try dims.withUnsafeMutableBytes(fill) == dims.count else {
            throw EmbedScopeError(.dataset, "truncated IDX header", path: url.path)
        }
        var shape: [Int] = []
        for i in 0..<ndim {
            let o = 4 * i
            shape.append(Int(dims[o]) << 24 | Int(dims[o + 1]) << 16 | Int(dims[o + 2]) << 8 | Int(dims[o + 3]))
        }
        guard let count = CheckedSize.product(shape) else {
            throw EmbedScopeError(.dataset, "IDX shape \(shape) overflows (the header is corrupt)", path: url.path)
        }
        guard count <= maximumPayload else {
            throw EmbedScopeError(.dataset, "IDX shape \(shape) holds \(count) bytes, more than the \(maximumPayload >> 20) MiB an IDX data set may (the header is corrupt?)",
                                  path: url.path)
        }
        try AddressSpace.require(count, for: "the IDX payload of \(AddressSpace.mebibytes(count))")
        var bytes = [UInt8](repeating: 0, count: count)
        let got = try bytes.withUnsafeMutableBytes(fill)
        var extra: UInt8 = 0
        let more = try withUnsafeMutableBytes(of: &extra, fill)
        guard got == count, more == 0 else {
            throw EmbedScopeError(.dataset, "IDX payload is \(more == 0 ? "\(got) bytes" : "longer than \(count) bytes"), shape \(shape) needs \(count)",
                                  path: url.path)
        }
        return IDXArray(shape: shape, bytes: bytes)
    }
}

/// Fashion-MNIST from the Debian package, written out as an image folder of real PNG files.
public enum FashionMNIST {
    public static let defaultDirectory = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")
    /// Class names in label order (0…9), as published with the data set.
    /// Written into an exported folder; `--force` replaces only a folder holding it.
    public static let datasetMarkerName = ".embedscope-dataset"

    public static let classNames = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]

    public enum Split: String, Sendable, CaseIterable { case train, test }

    public struct Summary: Sendable { public var written: Int; public var perClass: [Int] }

    /// An export written before the marker existed: only class folders holding only
    /// `<split>-NNNNN.png` files.
    static func isUnmarkedExport(_ out: URL, _ contents: [String]) -> Bool {
        let fm = FileManager.default
        return contents.allSatisfy { c in
            guard classNames.contains(c), let files = try? fm.contentsOfDirectory(atPath: out.appendingPathComponent(c).path) else { return false }
            return files.allSatisfy { f in
                let parts = f.split(separator: "-")
                return parts.count == 2 && Split(rawValue: String(parts[0])) != nil && parts[1].hasSuffix(".png")
                    && parts[1].dropLast(4).count == 5 && parts[1].dropLast(4).allSatisfy { $0.isASCII && $0.isNumber }
            }
        }
    }

    /// Writes `out/<class>/<split>-<index>.png` for `limit` images of `split` spread over the
    /// classes in proportion (`StratifiedLimit`, seeded; all images when nil), in a temporary
    /// sibling renamed into place when complete. `<index>` is the image's position in the IDX file.
    public static func export(split: Split, limit: Int?, seed: UInt64 = 0, to out: URL, source: URL = defaultDirectory,
                              force: Bool = false, progress: ProgressSink = SilentProgress()) throws -> Summary {
        let fm = FileManager.default
        var outIsDir: ObjCBool = false
        if fm.fileExists(atPath: out.path, isDirectory: &outIsDir) {
            guard force else {
                throw EmbedScopeError(.alreadyExists, outIsDir.boolValue ? "folder exists" : "a file with this name exists", path: out.path,
                                      hint: outIsDir.boolValue ? "pass --force to replace it, or choose another --out" : "choose another --out")
            }
            // --force replaces only a folder this command wrote (its marker), or an empty one.
            var isDir: ObjCBool = false
            let contents = (try? fm.contentsOfDirectory(atPath: out.path)) ?? []
            guard fm.fileExists(atPath: out.path, isDirectory: &isDir), isDir.boolValue,
                  contents.isEmpty || contents.contains(datasetMarkerName) || isUnmarkedExport(out, contents) else {
                throw EmbedScopeError(.refused, "exists and is not a data set folder `embedscope dataset` wrote (no \(datasetMarkerName) in it)",
                                      path: out.path, hint: "choose another --out; even with --force only a folder it wrote is replaced. Nothing was changed")
            }
        }
        let prefix = split == .train ? "train" : "t10k"
        let images = try IDXArray.read(source.appendingPathComponent("\(prefix)-images-idx3-ubyte.gz"))
        let labels = try IDXArray.read(source.appendingPathComponent("\(prefix)-labels-idx1-ubyte.gz"))
        guard images.shape.count == 3, labels.shape.count == 1, images.shape[0] == labels.shape[0] else {
            throw EmbedScopeError(.dataset, "images \(images.shape) and labels \(labels.shape) do not match", path: source.path)
        }
        let (n, h, w) = (images.shape[0], images.shape[1], images.shape[2])
        // An IDX file of no images, or of images without pixels (it was an empty data set folder,
        // or "cannot encode a 28x0 image (this is a bug in the caller …)").
        guard n >= 1, h >= 1, w >= 1 else {
            throw EmbedScopeError(.dataset, "the images file holds \(n) images of \(h)×\(w) pixels: nothing to write", path: source.path,
                                  hint: "it needs at least one image of at least 1×1 pixels")
        }
        guard limit.map({ $0 > 0 }) ?? true else { throw EmbedScopeError(.invalidArgument, "--limit must be at least 1") }
        let chosen = StratifiedLimit.select(labels: labels.bytes.prefix(n).map(Int.init), limit: min(n, limit ?? n), seed: seed)
        let count = chosen.count
        let parent = out.standardizedFileURL.deletingLastPathComponent()
        DirectorySwap.removeStale(beside: out.standardizedFileURL, kinds: ["tmp"])   // a killed writer's
        let tmp = parent.appendingPathComponent(".\(out.lastPathComponent).tmp-\(getpid())")
        let interruptToken = InterruptCleanup.track(tmp)  // before it exists
        defer { InterruptCleanup.untrack(interruptToken) }
        do {
            try? fm.removeItem(at: tmp)
            try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
            for c in classNames { try fm.createDirectory(at: tmp.appendingPathComponent(c), withIntermediateDirectories: true) }
        } catch {
            throw EmbedScopeError(.io, "cannot create folder", path: tmp.path, underlying: error)
        }
        var perClass = [Int](repeating: 0, count: classNames.count)
        progress.begin("fashion-mnist \(split.rawValue)", total: count)
        do {
            for (done, i) in chosen.enumerated() {
                let label = Int(labels.bytes[i])
                guard label < classNames.count else { throw EmbedScopeError(.dataset, "label \(label) at \(i) out of range", path: source.path) }
                let px = Array(images.bytes[(i * h * w)..<((i + 1) * h * w)])
                let name = String(format: "%@-%05d.png", split.rawValue, i)
                try PNGWriter.write(width: w, height: h, channels: 1, pixels: px,
                                    to: tmp.appendingPathComponent(classNames[label]).appendingPathComponent(name))
                perClass[label] += 1
                if done & 255 == 0 { progress.update(done) }
            }
            progress.update(count)
            progress.end()
            try Data("EmbedScope data set export: `embedscope dataset … --force` replaces this folder as a whole.\n".utf8)
                .write(to: tmp.appendingPathComponent(datasetMarkerName))
            try InterruptCleanup.commit {
                if fm.fileExists(atPath: out.path) { try fm.removeItem(at: out) }
                try fm.moveItem(at: tmp, to: out)
                CommittedChanges.record("\(out.path) holds the \(count) images written")
            }
        } catch {
            progress.end()
            try? fm.removeItem(at: tmp)
            throw error
        }
        return Summary(written: count, perClass: perClass)
    }
}
