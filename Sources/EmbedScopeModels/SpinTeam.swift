import EmbedScopeCore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Helper threads that stay awake between the layers of a split forward pass.
///
/// At batch 1 every layer is split across the cores (`Team.split`), some 40 joins per image. A
/// `DispatchQueue.concurrentPerform(2)` join cost 40–60 µs on the 2-core VMs measured (the idle
/// core has to be woken for every layer), more than a small layer's work. Here one helper per
/// extra core spins for a short while (`spinNanoseconds`) after each job, so the next layer finds
/// it awake, then parks on a condition variable. Parts are claimed from a counter tagged with the
/// job's generation: whoever is free takes the next part (a late helper takes none), and a part
/// is only ever run for the job that posted it. One job at a time: a second caller (two forward
/// passes at once in a server) gets `false` and runs its parts another way.
final class SpinTeam: @unchecked Sendable {
    /// One helper per usable core beyond the first (`CPUBudget`: a helper on a CPU the caller
    /// also needs would spin where the caller should run); nil on one core.
    static let shared: SpinTeam? = {
        let cores = CPUBudget.spinningThreads
        return cores >= 2 ? SpinTeam(helpers: cores - 1) : nil
    }()

    /// How long a helper spins for the next job before it parks.
    static let spinNanoseconds: UInt64 = 200_000
    /// How long the caller spins at a join before it also yields the core between checks.
    static let joinSpinNanoseconds: UInt64 = 40_000
    private static let indexBits = 20

    private let busy = Atomic<Bool>(false)
    /// generation << indexBits | next part index.
    private let claim = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    private let wake = NSCondition()
    /// Written by the caller before the generation is published; read by helpers after a claim.
    private var body: ((Int) -> Void)?
    /// The job's part count, stored before the generation is published. Atomic because a late
    /// helper may read it while the caller posts the next job (ThreadSanitizer: a plain Int was
    /// a data race there); the value it reads then is harmless, its claim of the old job fails.
    private let partCount = Atomic<Int>(0)
    private var generation = 0

    init(helpers: Int) {   // (internal for the tests: a team on a one-core machine)
        for i in 0..<helpers {
            let t = Thread { [unowned self] in self.helperLoop() }
            t.name = "embedscope-team-\(i + 1)"
            t.start()
        }
    }

    /// Runs body(0..<parts) on the calling thread and the helpers; returns when every part has
    /// finished. False (nothing run) when another caller's job is in progress.
    func run(_ parts: Int, _ body: (Int) -> Void) -> Bool {
        guard parts > 0, parts < 1 << Self.indexBits,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { b in
            generation += 1
            self.body = b
            partCount.store(parts, ordering: .relaxed)
            done.store(0, ordering: .relaxed)
            claim.store(generation << Self.indexBits, ordering: .releasing)
            wake.lock(); wake.broadcast(); wake.unlock()
            runParts(generation)
            // Wait for the helpers' parts: spin, and yield the core only after 40 µs, for when a
            // helper shares it (another process holds the other core). Yielding every 1,024 spins
            // from the start cost a system call per µs of waiting: at batch 1, 3 % of the forward
            // pass's samples were sched_yield, and a helper finishing mid-call was seen a call
            // late. Each spin PAUSEs (~30 ns on Zen 5, longer on recent Intel), so that a helper
            // on this core's SMT sibling keeps the pipeline; the clock is read every 64 spins.
            var spins = 0
            var since: UInt64 = 0
            while done.load(ordering: .acquiring) < parts {
                spinPause()
                spins += 1
                if spins & 63 == 0 {
                    let now = DispatchTime.now().uptimeNanoseconds
                    if since == 0 { since = now } else if now - since > Self.joinSpinNanoseconds { sched_yield() }
                }
            }
            self.body = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    /// Claims and runs parts of job `gen` until none is left (or the job is another one).
    private func runParts(_ gen: Int) {
        while true {
            let c = claim.load(ordering: .acquiring)
            guard c >> Self.indexBits == gen else { return }
            let i = c & ((1 << Self.indexBits) - 1)
            guard i < partCount.load(ordering: .relaxed) else { return }
            guard claim.compareExchange(expected: c, desired: c + 1, ordering: .acquiringAndReleasing).exchanged else { continue }
            body!(i)
            done.add(1, ordering: .releasing)
        }
    }

    private func helperLoop() {
        var seen = 0
        while true {
            var gen = claim.load(ordering: .acquiring) >> Self.indexBits
            if gen == seen {
                let start = DispatchTime.now().uptimeNanoseconds
                var spins = 0
                while gen == seen {
                    spinPause()
                    spins += 1
                    if spins & 255 == 0 && DispatchTime.now().uptimeNanoseconds - start > Self.spinNanoseconds { break }
                    gen = claim.load(ordering: .acquiring) >> Self.indexBits
                }
                if gen == seen {
                    wake.lock()
                    while claim.load(ordering: .acquiring) >> Self.indexBits == seen { wake.wait() }
                    wake.unlock()
                    gen = claim.load(ordering: .acquiring) >> Self.indexBits
                }
            }
            seen = gen
            runParts(gen)
        }
    }
}
