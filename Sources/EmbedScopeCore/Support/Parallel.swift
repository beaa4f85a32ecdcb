import Dispatch

/// Runs `body(i)` for i in 0..<count on all cores and returns each outcome in order —
/// success or the error it threw — so one bad input never stops the others.
package func parallelResults<T>(_ count: Int, _ body: (Int) throws -> T) -> [Result<T, Error>] {
    var out = [Result<T, Error>?](repeating: nil, count: count)
    out.withUnsafeMutableBufferPointer { buf in
        let b = buf
        DispatchQueue.concurrentPerform(iterations: count) { i in b[i] = Result { try body(i) } }
    }
    return out.map { $0! }
}
