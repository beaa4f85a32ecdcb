import Foundation
import EmbedScopeCore
import EmbedScopeImages

/// Runs `body(0..<workers)` on that many threads (the calling thread is one of them).
@inline(__always)
func runWorkers(_ workers: Int, _ body: (Int) -> Void) {
    if workers <= 1 {
        body(0)
    } else {
        parallelFor(workers, body)
    }
}

/// How a stream of work runs its layers: alone on the calling thread (a worker that owns its
/// images), or with every layer split by rows across `threads` threads (the images left over
/// when the batch does not divide among the workers — all of them at batch 1).
struct Team {
    let threads: Int

    static let alone = Team(threads: 1)

    /// Parts `split` cuts `count` items into.
    func parts(_ count: Int, minimumPerPart: Int = 1) -> Int {
        RowPartition.parts(count, threads: threads, minimumPerPart: minimumPerPart)
    }

    /// Runs `body(range, part, clock)` over `0..<count` in `parts(count)` contiguous parts (on
    /// the calling thread when alone or when there is too little to split). Time the body does
    /// not lap to a kind of its own is charged to `kind`.
    func split(_ count: Int, _ kind: Int, _ clock: inout Stopwatch, minimumPerPart: Int = 1,
               _ body: (Range<Int>, Int, inout Stopwatch) -> Void) {
        let parts = parts(count, minimumPerPart: minimumPerPart)
        if parts <= 1 {
            body(0..<count, 0, &clock)
            clock.lap(kind)
            return
        }
        var clocks = [Stopwatch]()
        clocks.reserveCapacity(parts)
        for _ in 0..<parts { clocks.append(clock.child()) }
        clocks.withUnsafeMutableBufferPointer { cb in
            let cb = cb
            let part = { (t: Int) in
                var c = cb[t]
                c.restart()
                body(RowPartition.range(t, of: parts, count: count), t, &c)
                c.lap(kind)
                cb[t] = c
            }
            // Helpers kept awake between layers (SpinTeam); Dispatch when they are taken.
            if SpinTeam.shared?.run(parts, part) != true { parallelFor(parts, part) }
        }
        for c in clocks { clock.absorb(c) }
    }
}

