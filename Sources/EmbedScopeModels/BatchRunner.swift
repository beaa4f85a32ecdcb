import EmbedScopeCore
import Synchronization

/// The pointers of one forward call: the input images and the rows of features and logits
/// the images write.
struct BatchBuffers {
    let input: UnsafePointer<Float>
    let features: UnsafeMutablePointer<Float>
    let logits: UnsafeMutablePointer<Float>
}

extension FeatureExtractor {
    /// The one batch runner, scheduler and profiler of the CNNs (EfficientNet-Lite0, ResNet):
    /// checks the input, allocates the outputs, and runs the images that divide evenly among
    /// `threads` on independent workers (each with its own workspace from `pool` and
    /// single-threaded OpenBLAS). The workers take runs of images from a shared counter — at
    /// most `group`, fewer as the batch runs out (an equal share of what is left), so that a
    /// worker slowed by another thread on its core (the decoder of `build`, a neighbour on a
    /// shared machine) takes fewer images instead of leaving the other core idle at the end.
    /// The rest — all of them when n < threads — runs with every layer split across the
    /// threads (`Team`). With `profile`, the workers' per-layer CPU times are summed into a
    /// `ForwardProfile` labelled by `kinds` (network order); without, it is empty. Which worker
    /// runs an image does not change its result: every run is computed alone, by the same kernels.
    ///
    /// `images(buffers, range, workspace, team, clock)` runs the images `range` of the batch
    /// (`range.count` ≤ `group` on the workers).
    func runBatch(_ input: [Float], count n: Int, threads t: Int, group: Int, pool: WorkspacePool, kinds: [String],
                  capacities: () -> [Int], profile: Bool,
                  _ images: (BatchBuffers, Range<Int>, Workspace, Team, inout Stopwatch) -> Void)
        throws -> (features: [Float], logits: [Float], profile: ForwardProfile) {
        try checkInput(input, count: n)
        let start = Stopwatch.now()
        guard n > 0 else { return ([], [], ForwardProfile(layers: [], wall: 0, threads: 0)) }
        let caps = capacities()
        // Under `ulimit -v`, a clear error before the pass: the workspaces not yet cached (one per
        // worker and one for the shared rest) and the outputs.
        if AddressSpace.limit != nil {
            try AddressSpace.require(pool.bytesToAllocate(caps, count: t + 1) + n * (featureDim + classCount) * 4,
                                     for: "the forward pass's buffers (\(n) images on \(t) threads)")
        }
        var features = [Float](repeating: 0, count: n * featureDim)
        var logits = [Float](repeating: 0, count: Swift.max(1, n * classCount)) // a pointer even for a headless model
        let perWorker = n / t, shared = n - perWorker * t
        var times = [[Double]](repeating: [], count: t + 1)
        input.withUnsafeBufferPointer { xb in
            features.withUnsafeMutableBufferPointer { fb in
                logits.withUnsafeMutableBufferPointer { lb in
                    times.withUnsafeMutableBufferPointer { tb in
                        let buffers = BatchBuffers(input: xb.baseAddress!, features: fb.baseAddress!, logits: lb.baseAddress!), times = tb
                        // Runs the ranges `next` hands out with one workspace; its times go to `slot`.
                        func run(_ slot: Int, _ team: Team, _ next: () -> Range<Int>?) {
                            let ws = pool.take(caps)
                            var clock = Stopwatch(kinds: kinds.count, enabled: profile)
                            while let range = next() { images(buffers, range, ws, team, &clock) }
                            pool.give(ws)
                            times[slot] = clock.seconds
                        }
                        BLASThreads.single {
                            if perWorker > 0 {
                                let claimed = Atomic<Int>(0)
                                runWorkers(t) { w in run(w, .alone) { claimImages(claimed, end: n - shared, group: group, workers: t) } }
                            }
                            if shared > 0 {
                                var rest: Range<Int>? = (n - shared)..<n
                                run(t, Team(threads: t)) { defer { rest = nil }; return rest }
                            }
                        }
                    }
                }
            }
        }
        guard profile else { return (features, classCount == 0 ? [] : logits, ForwardProfile(layers: [], wall: 0, threads: t)) }
        var seconds = [Double](repeating: 0, count: kinds.count)
        for tw in times { for (i, s) in tw.enumerated() { seconds[i] += s } }
        let p = ForwardProfile(layers: kinds.indices.map { (kinds[$0], seconds[$0]) },
                               wall: Stopwatch.now() - start, threads: t)
        return (features, classCount == 0 ? [] : logits, p)
    }
}

/// The next run of images for a worker: `group` while the batch lasts, then an equal share of
/// what is left (at least one), so the workers finish together; nil when none is left.
func claimImages(_ next: borrowing Atomic<Int>, end: Int, group: Int, workers: Int) -> Range<Int>? {
    var start = next.load(ordering: .relaxed)
    while start < end {
        let size = Swift.max(1, Swift.min(group, (end - start) / Swift.max(1, workers)))
        let (exchanged, original) = next.compareExchange(expected: start, desired: start + size, ordering: .relaxed)
        if exchanged { return start..<(start + size) }
        start = original
    }
    return nil
}
