import Dispatch
import Synchronization

/// Runs `body(i)` for i in 0..<iterations on all cores (Dispatch's `concurrentPerform`) and
/// returns when every iteration has finished.
///
/// This is the one place the package crosses the Sendable check for data-parallel loops: the
/// kernels hand each iteration raw pointers into buffers that the iterations split between them
/// (disjoint rows, disjoint output slots), which Swift cannot prove. The closure never outlives
/// the call (`concurrentPerform` joins before returning), so the box below is sound as long as
/// iterations write disjoint memory — the contract of every caller.
package func parallelFor(_ iterations: Int, _ body: (Int) -> Void) {
    withoutActuallyEscaping(body) { body in
        let shared = SharedLoopBody(run: body)
        DispatchQueue.concurrentPerform(iterations: iterations) { shared.run($0) }
    }
}

/// The loop body of `parallelFor`, shared by the worker threads for the duration of the call.
private struct SharedLoopBody: @unchecked Sendable {
    let run: (Int) -> Void
}

/// Runs `body(i)` for i in 0..<count on all cores and returns each outcome in order —
/// success or the error it threw — so one bad input never stops the others.
package func parallelResults<T>(_ count: Int, _ body: (Int) throws -> T) -> [Result<T, Error>] {
    var out = [Result<T, Error>?](repeating: nil, count: count)
    out.withUnsafeMutableBufferPointer { buf in
        let b = buf
        parallelFor(count) { i in b[i] = Result { try body(i) } }
    }
    return out.map { $0! }
}

/// The indices 0..<count, each handed to whichever thread asks next: `for i in claims` on every
/// thread of a `parallelFor`. For items of uneven cost — packing that first-touches memory, chunks
/// of a scan — where dealing them out in turn leaves a core idle behind a slow one.
package final class Claims: Sequence, Sendable {
    package let count: Int
    private let next = Atomic<Int>(0)

    package init(_ count: Int) { self.count = count }

    package struct Iterator: IteratorProtocol {
        fileprivate let claims: Claims
        package mutating func next() -> Int? {
            let i = claims.next.add(1, ordering: .relaxed).oldValue
            return i < claims.count ? i : nil
        }
    }

    package func makeIterator() -> Iterator { Iterator(claims: self) }
}

/// Runs `body(i)` for i in 0..<count on at most `threads` threads (never more than `count`),
/// each index run by whichever thread is free next (`Claims`); returns when all have finished.
/// Iterations must write disjoint memory, as for `parallelFor`.
package func parallelClaimed(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    guard count > 0 else { return }
    let claims = Claims(count)
    parallelFor(max(1, min(threads, count))) { _ in
        for i in claims { body(i) }
    }
}
