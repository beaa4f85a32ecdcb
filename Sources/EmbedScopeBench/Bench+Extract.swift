import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Bench {
    /// Forward-pass throughput; Scripts/bench_extract.py runs it beside PyTorch and ONNX Runtime.
    struct Extract: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "extract", abstract: "Time the native forward pass on preprocessed inputs (.npy [N, 3·224·224]).")

        @Option(help: "Model.") var model = "efficientnet-lite0"
        @Option(help: "Weights (default: the installed ImageNet weights).") var weights: String?
        @Option(help: "Preprocessed inputs, .npy [N, 3*224*224] float32, CHW per row.") var inputs: String
        @Option(parsing: .upToNextOption, help: "Batch sizes to time.") var batch: [Int] = [1, 8, 32]
        @Option(help: "Timed passes over the inputs per batch size (median reported).") var runs = 3
        @Option(help: "Write the features of all inputs to this .npy (for parity checks).") var saveFeatures: String?
        @Flag(help: "Also print where the CPU time of one pass over the inputs at the largest batch size went, by layer type, with the wall time (CPU time is robust to other processes on the machine).")
        var profile = false
        @Flag var json = false
        @Flag(help: "Paired rounds for Scripts/bench_extract_rounds.py: after loading, read lines \"BATCH COUNT START\" from stdin, time COUNT images from input START on (cycling) at that batch size, print the seconds; until end of input.")
        var stdinRounds = false

        /// The `--stdin-rounds` loop. Each request's batches are cut out before its clock starts
        /// (as in the timed runs below); the driving script sends untimed warm-up requests first.
        func pairedRounds(_ extractor: any FeatureExtractor, _ values: [Float], images n: Int, per: Int) throws {
            func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
            say("ready")
            while let line = readLine() {
                let f = line.split(separator: " ").compactMap { Int($0) }
                guard f.count == 3, f[0] >= 1, f[1] >= 1, f[2] >= 0 else {
                    throw EmbedScopeError(.invalidArgument, "expected \"BATCH COUNT START\", got \"\(line)\"")
                }
                let (b, count, start) = (f[0], f[1], f[2])
                var inputs: [[Float]] = []
                for s in stride(from: 0, to: count, by: b) {
                    var input: [Float] = []
                    input.reserveCapacity(min(b, count - s) * per)
                    for i in 0..<min(b, count - s) {
                        let image = (start + s + i) % n
                        input.append(contentsOf: values[(image * per)..<((image + 1) * per)])
                    }
                    inputs.append(input)
                }
                let t0 = DispatchTime.now().uptimeNanoseconds
                for input in inputs { _ = try extractor.forward(input, count: input.count / per) }
                say(String(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9))
            }
        }

        struct Row: Encodable { var batch: Int; var imagesPerSecond: Double; var msPerImage: Double }
        struct Figures: Encodable { var model: String; var images: Int; var macsPerImage: Double?; var rows: [Row] }

        func run() throws {
            try runCommand {
                let m = try ModelRegistry.load(model, weights: weights.map(resolveURL))
                let x = try NPYArray.read(contentsOf: resolveURL(inputs))
                let per = 3 * m.extractor.inputSize * m.extractor.inputSize
                guard x.shape.count == 2, x.cols == per, x.rows >= 1 else {
                    throw EmbedScopeError(.shapeMismatch, "inputs have shape \(x.shape); expected [N, \(per)]", path: inputs)
                }
                let n = x.rows
                if let saveFeatures {
                    let f = try m.extractor.forward(x.values, count: n).features
                    try NPYArray.write(shape: [n, m.extractor.featureDim], values: f, to: resolveURL(saveFeatures))
                }
                if stdinRounds {
                    try pairedRounds(m.extractor, x.values, images: n, per: per)
                    return
                }
                var rows: [Row] = []
                for b in batch where b >= 1 {
                    // The batches are cut out of the inputs before the clock starts, as the Python
                    // references are handed numpy views (a 600 KB copy per image was timed before).
                    let batches = stride(from: 0, to: n, by: b).map { s in Array(x.values[(s * per)..<(min(n, s + b) * per)]) }
                    // Warm-up at this batch size, at least 16 images: buffers, page faults, the
                    // helper threads. Scripts/bench_extract_rounds.py starts this process afresh each
                    // round and times it against an ONNX Runtime session already warm.
                    var w = 0
                    for input in batches where w < min(n, max(b, 16)) {
                        _ = try m.extractor.forward(input, count: input.count / per)
                        w += input.count / per
                    }
                    var times: [Double] = []
                    for _ in 0..<max(1, runs) {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        for input in batches {
                            _ = try m.extractor.forward(input, count: input.count / per)
                        }
                        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                    }
                    let med = times.sorted()[times.count / 2]
                    rows.append(Row(batch: b, imagesPerSecond: Double(n) / med, msPerImage: med * 1000 / Double(n)))
                }
                if profile, let b = batch.max(), b >= 1 {
                    // Every input, in batches of b (one batch of one image is too few samples to show anything).
                    var sum: ForwardProfile?
                    for s in stride(from: 0, to: n, by: b) {
                        let e = min(n, s + b) - s
                        let slice = Array(x.values[(s * per)..<((s + e) * per)])
                        let p: ForwardProfile
                        if let net = m.extractor as? EfficientNetLite0 { p = try net.profiledForward(slice, count: e).profile }
                        else if let net = m.extractor as? ResNet {
                            p = try net.profiledForward(slice, count: e).profile
                            if s == 0 { FileHandle.standardError.write(Data(("kernels:\n  " + net.kernelChoices.joined(separator: "\n  ") + "\n").utf8)) }
                        }
                        else { break }
                        if var t = sum {
                            for i in t.layers.indices { t.layers[i].seconds += p.layers[i].seconds }
                            t.wall += p.wall
                            sum = t
                        } else { sum = p }
                    }
                    if let p = sum {
                        let detail = p.layers.filter { $0.seconds > 0 }.map { String(format: "%@ %.3f", $0.kind as NSString, $0.seconds * 1000 / Double(n)) }
                        FileHandle.standardError.write(Data(String(format: "profile batch %d, %d images: %.3f CPU ms/image, wall %.3f ms/image (%@ ms/image)\n",
                                                                   b, n, p.total * 1000 / Double(n), p.wall * 1000 / Double(n), detail.joined(separator: ", ")).utf8))
                    }
                }
                let macs: Double? = model == "efficientnet-lite0" ? 385.2e6 : nil
                let f = Figures(model: m.extractor.name, images: n, macsPerImage: macs, rows: rows)
                if json { try printJSON(f) } else {
                    for r in rows {
                        let gf = macs.map { String(format: ", %.1f GFLOP/s", 2 * $0 * r.imagesPerSecond / 1e9) } ?? ""
                        print(String(format: "%@ batch %2d: %.1f images/s (%.2f ms/image%@)", m.extractor.name, r.batch, r.imagesPerSecond, r.msPerImage, gf))
                    }
                }
            }
        }
    }
}
