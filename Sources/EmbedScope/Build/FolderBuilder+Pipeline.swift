import Dispatch
import Foundation
import Synchronization
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels

/// The decode stage of the shared pass (`FolderBuilder+Pass`) and the pipeline that runs it
/// ahead of the forward pass.
///
/// Stages of one batch: read + decode + pixel vector + network input (every image of the
/// batch spread over the cores by `parallelResults`), then the forward pass (the extractor's
/// own workers on every core), then the rows are appended in folder order. With `overlap` the
/// decode stage runs on a thread of its own, `decodeAhead` batches ahead of the forward pass:
/// while the network runs batch i, batches i+1… are decoded. Both stages use every core, so a
/// core that one stage leaves idle (the forward pass waiting for the next batch, the decoder
/// held back because the queue is full, a stage's last straggling image) is taken by the other;
/// the bounded queue is the back-pressure that keeps memory at `decodeAhead + 1` batches.
/// The rows, their order, and every value are those of the sequential pass: the same functions
/// on the same inputs, consumed in batch order.
extension FolderBuilder {
    /// Batches the decoder may be ahead of the forward pass (queued or being decoded).
    static let decodeAhead = 2

    /// One image after the decode stage (its network input is in `DecodedBatch.inputs`).
    struct Decoded: Sendable {
        var vector: [Float]
        var width: Int
        var height: Int
        var bytes: Int
        var hash: String
    }

    /// One batch after the decode stage: entries `range` of the folder, each decoded or the
    /// error that stopped it, and the network inputs of the decoded ones, concatenated in order.
    struct DecodedBatch: Sendable {
        var range: Range<Int>
        var results: [Result<Decoded, any Error>]
        var inputs: [Float]
        /// Wall time of this batch's decode stage.
        var seconds: Double
    }

    /// Reads, decodes and preprocesses entries `range` of `folder` on every core.
    static func decodeBatch(_ folder: DatasetFolder, _ range: Range<Int>, pixelSize s: Int, prep: Preprocessing?) -> DecodedBatch {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let outcomes = parallelResults(range.count) { j -> (Decoded, [Float]) in
            let url = folder.root.appendingPathComponent(folder.entries[range.lowerBound + j].path)
            let data = try ImageDecoder.read(url)   // (refused above its size limit before reading)
            let img = try ImageDecoder.decode(data: data, path: url.path)
            let v = PixelSpace.vector(of: img, size: s)
            guard v.contains(where: { $0 != 0 }) else {
                throw ImageError(kind: .unsupported, path: url.path, reason: "all-black image: its pixel vector has no direction")
            }
            return (Decoded(vector: v, width: img.width, height: img.height, bytes: data.count, hash: hex(Checksum.crc32(data))),
                    prep?.apply(img) ?? [])
        }
        var inputs: [Float] = []
        if let prep {
            let good = outcomes.reduce(0) { n, r in if case .success = r { return n + 1 } else { return n } }
            inputs.reserveCapacity(good * 3 * prep.crop * prep.crop)
        }
        var results: [Result<Decoded, any Error>] = []
        results.reserveCapacity(outcomes.count)
        for r in outcomes {
            switch r {
            case .success(let (d, input)): inputs.append(contentsOf: input); results.append(.success(d))
            case .failure(let e): results.append(.failure(e))
            }
        }
        return DecodedBatch(range: range, results: results, inputs: inputs,
                            seconds: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
}

/// Runs a decode function over a list of batches on a thread of its own, at most `depth`
/// batches ahead of the consumer (`next`), in order. `stop` (always call it, e.g. in a
/// `defer`) tells the thread to decode no further batch and waits until it has exited, so no
/// decoding outlives the pass — whether it ended normally or on an error.
final class DecodeAhead: Sendable {
    private struct State {
        var ready: [FolderBuilder.DecodedBatch] = []
        var stopped = false
    }
    private let state = Locked(State())
    /// Free places: the producer takes one before decoding a batch, the consumer gives it back
    /// when it takes the batch. Made with value 0 and signalled `depth` times, because
    /// libdispatch refuses to free a semaphore whose value is below the one it was made with.
    private let free = DispatchSemaphore(value: 0)
    /// Batches decoded and not yet taken.
    private let ready = DispatchSemaphore(value: 0)
    /// Signalled once when the producer thread exits.
    private let exited = DispatchSemaphore(value: 0)
    private let count: Int
    private let taken = Atomic<Int>(0)
    private let joined = Atomic<Bool>(false)

    init(batches: [Range<Int>], depth: Int, decode: @escaping @Sendable (Range<Int>) -> FolderBuilder.DecodedBatch) {
        count = batches.count
        for _ in 0..<max(1, depth) { free.signal() }
        let thread = Thread { [self] in
            for range in batches {
                free.wait()
                if state.withLock({ $0.stopped }) { break }
                let batch = decode(range)
                state.withLock { $0.ready.append(batch) }
                ready.signal()
            }
            exited.signal()
        }
        thread.name = "embedscope-decode"
        thread.start()
    }

    /// The next batch in order; waits for the decoder if it is not ready. Nil after the last.
    func next() -> FolderBuilder.DecodedBatch? {
        guard taken.load(ordering: .relaxed) < count else { return nil }
        ready.wait()
        let batch = state.withLock { $0.ready.removeFirst() }
        taken.wrappingAdd(1, ordering: .relaxed)
        free.signal()
        return batch
    }

    /// Stops the decoder after the batch it is decoding (if any) and waits for its thread to exit.
    func stop() {
        guard !joined.exchange(true, ordering: .acquiringAndReleasing) else { return }
        state.withLock { $0.stopped = true }
        free.signal()                       // wakes the producer if it waits for a place
        exited.wait()
        state.withLock { $0.ready.removeAll() }   // batches decoded for nobody (the pass failed)
    }
}
