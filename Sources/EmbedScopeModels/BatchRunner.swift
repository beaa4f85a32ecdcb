import EmbedScopeCore

/// The pointers of one forward call: the input images and the rows of features and logits
/// the images write.
struct BatchBuffers {
    let input: UnsafePointer<Float>
    let features: UnsafeMutablePointer<Float>
    let logits: UnsafeMutablePointer<Float>
}

extension FeatureExtractor {
    /// The one batch runner, scheduler and profiler of the CNNs (EfficientNet-Lite0, ResNet):
    /// checks the input, allocates the outputs, hands the images that divide evenly among
    /// `threads` to independent workers (each with its own workspace from `pool` and
    /// single-threaded OpenBLAS, no synchronisation at all), runs the rest — all of them when
    /// n < threads — with every layer split across the threads (`Team`), and sums the workers'
    /// per-layer CPU times into a `ForwardProfile` labelled by `kinds` (network order).
    ///
    /// `images(buffers, range, workspace, team, clock)` runs the images `range` of the batch.
    func runBatch(_ input: [Float], count n: Int, threads t: Int, pool: WorkspacePool, kinds: [String],
                  capacities: () -> [Int], profile: Bool,
                  _ images: (BatchBuffers, Range<Int>, Workspace, Team, inout Stopwatch) -> Void)
        throws -> (features: [Float], logits: [Float], profile: ForwardProfile) {
        try checkInput(input, count: n)
        let start = Stopwatch.now()
        guard n > 0 else { return ([], [], ForwardProfile(layers: [], wall: 0, threads: 0)) }
        var features = [Float](repeating: 0, count: n * featureDim)
        var logits = [Float](repeating: 0, count: Swift.max(1, n * classCount)) // a pointer even for a headless model
        let perWorker = n / t, shared = n - perWorker * t
        var times = [[Double]](repeating: [], count: t + 1)
        let caps = capacities()
        input.withUnsafeBufferPointer { xb in
            features.withUnsafeMutableBufferPointer { fb in
                logits.withUnsafeMutableBufferPointer { lb in
                    times.withUnsafeMutableBufferPointer { tb in
                        let buffers = BatchBuffers(input: xb.baseAddress!, features: fb.baseAddress!, logits: lb.baseAddress!), times = tb
                        func run(_ range: Range<Int>, _ team: Team, _ slot: Int) {
                            let ws = pool.take(caps)
                            var clock = Stopwatch(kinds: kinds.count, enabled: profile)
                            images(buffers, range, ws, team, &clock)
                            pool.give(ws)
                            times[slot] = clock.seconds
                        }
                        BLASThreads.single {
                            if perWorker > 0 {
                                runWorkers(t) { w in run((w * perWorker)..<((w + 1) * perWorker), .alone, w) }
                            }
                            if shared > 0 { run((n - shared)..<n, Team(threads: t), t) }
                        }
                    }
                }
            }
        }
        var seconds = [Double](repeating: 0, count: kinds.count)
        for tw in times where profile { for (i, s) in tw.enumerated() { seconds[i] += s } }
        let p = ForwardProfile(layers: kinds.indices.map { (kinds[$0], seconds[$0]) },
                               wall: Stopwatch.now() - start, threads: t)
        return (features, classCount == 0 ? [] : logits, p)
    }
}
