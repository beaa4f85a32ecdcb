import Foundation
import EmbedScopeCore
import EmbedScopeImages
import EmbedScopeModels
import EmbedScopeAnalysis
import EmbedScopeReport

/// A 2-D (or 1-D) numeric array read from NumPy's .npy format (versions 1.0, 2.0, 3.0),
/// converted to Float32. Only C-order little-endian float32/float64 (and, for integers
/// given as class-free data, none) are accepted — anything else is refused with a reason.
package struct NPYArray: Sendable {
    package var shape: [Int]
    package var values: [Float]

    package var rows: Int { shape.first ?? 1 }
    package var cols: Int { shape.count >= 2 ? shape[1] : 1 }

    package init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }

    /// Reads the file through a guarded mapping (`MappedInput`: a regular file only, and an error
    /// if another program cuts it short meanwhile).
    package static func read(contentsOf url: URL) throws -> NPYArray {
        try MappedInput.read(url) { try parse($0, path: url.path) }
    }

    /// `read`, for vectors about to be stored L2-normalized (`import`, `add --vectors`): a 2-D
    /// float64 file's rows are normalized in Double and rounded to float32 once, with their
    /// Double norms — the unit rows numpy's `(x / np.linalg.norm(x, axis=1,
    /// keepdims=True)).astype(np.float32)` gives, where rounding to float32 first and
    /// normalizing after rounds twice (up to 1.2 ulp off). A row of zeros or with a non-finite
    /// value is left as read, for the caller's checks to name. A float32 file: `read`'s values,
    /// norms nil.
    package static func readRows(contentsOf url: URL) throws -> (array: NPYArray, norms: [Double]?) {
        try MappedInput.read(url) { data in
            var norms: [Double]? = nil
            let a = try parse(data, path: url.path, unitRows: &norms)
            return (a, norms)
        }
    }

    package static func parse(_ data: Data, path: String) throws -> NPYArray {
        var none: [Double]? = nil
        return try parse(data, path: path, unitRows: &none, normalizing: false)
    }

    /// `normalizing` (a 2-D or 1-D float64 array): rows normalized in Double before the rounding to
    /// float32, their norms in `unitRows` (see `readRows`).
    private static func parse(_ data: Data, path: String, unitRows: inout [Double]?, normalizing: Bool = true) throws -> NPYArray {
        func fail(_ why: String, hint: String? = nil) -> EmbedScopeError {
            EmbedScopeError(.npy, why, path: path, hint: hint ?? "write it with numpy.save(path, np.ascontiguousarray(x, dtype=np.float32))")
        }
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard data.count >= 10, Array(data.prefix(6)) == magic else { throw fail("not a .npy file (bad magic)") }
        let major = data[data.startIndex + 6]
        let headerLen: Int, headerStart: Int
        switch major {
        case 1:
            headerLen = Int(data[data.startIndex + 8]) | Int(data[data.startIndex + 9]) << 8
            headerStart = 10
        case 2, 3:
            guard data.count >= 12 else { throw fail("truncated header") }
            headerLen = (0..<4).reduce(0) { $0 | Int(data[data.startIndex + 8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw fail("unsupported .npy format version \(major)")
        }
        guard data.count >= headerStart + headerLen else { throw fail("truncated header") }
        let headerBytes = data[(data.startIndex + headerStart)..<(data.startIndex + headerStart + headerLen)]
        guard let header = String(data: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else { throw fail("unreadable header") }
        let dict = try parseHeader(header, fail: fail)
        guard let descr = dict["descr"] else { throw fail("header has no 'descr'") }
        guard let fortran = dict["fortran_order"] else { throw fail("header has no 'fortran_order'") }
        guard fortran == "False" else {
            throw fail("array is in Fortran order", hint: "save np.ascontiguousarray(x) instead")
        }
        guard let shapeText = dict["shape"] else { throw fail("header has no 'shape'") }
        let shape = try parseShape(shapeText, fail: fail)
        guard shape.count == 1 || shape.count == 2 else {
            throw fail("array has \(shape.count) dimensions \(shape); expected [N, d] (or [N] for a bias)")
        }
        let elem: Int
        switch descr {
        case "<f4", "=f4", "|f4": elem = 4
        case "<f8", "=f8", "|f8": elem = 8
        case ">f4", ">f8": throw fail("big-endian floats (\(descr)) are not supported", hint: "save x.astype('<f4')")
        default: throw fail("dtype \(descr) is not supported (float32 or float64 only)", hint: "save x.astype(np.float32)")
        }
        let payloadStart = headerStart + headerLen
        let present = data.count - payloadStart
        // Every size from the header is multiplied with overflow checks and bounded by the bytes
        // actually present before anything is allocated: shape (2**60, 2) is an error, not a wrap.
        guard let count = CheckedSize.product(shape), let expected = CheckedSize.product([count, elem]) else {
            throw fail("shape \(shape) of \(elem)-byte values is larger than any file (the size overflows); the header is corrupt")
        }
        guard present >= expected else {
            throw fail("file holds \(present) data bytes, shape \(shape) needs \(expected) (truncated)")
        }
        // Under `ulimit -v`: the values (and a row's norms), or a clear error, not a trap.
        try AddressSpace.require(count.multipliedReportingOverflow(by: 4).partialValue,
                                 for: "the \(count) values of \(URL(fileURLWithPath: path).lastPathComponent)")
        var values = [Float](repeating: 0, count: count)
        if normalizing && elem == 8 && (shape.count == 2 || shape.count == 1) && shape.last! > 0 {
            let (n, d) = shape.count == 2 ? (shape[0], shape[1]) : (1, shape[0])   // ([d]: one row, a query vector)
            var norms = [Double](repeating: 1, count: n)
            data.withUnsafeBytes { raw in
                let p = raw.baseAddress! + payloadStart
                values.withUnsafeMutableBufferPointer { out in
                    for i in 0..<n {
                        @inline(__always) func v(_ j: Int) -> Double { p.loadUnaligned(fromByteOffset: (i * d + j) * 8, as: Double.self) }
                        var largest = 0.0, finite = true
                        for j in 0..<d {
                            let x = v(j)
                            if !x.isFinite { finite = false; break }
                            largest = Swift.max(largest, abs(x))
                        }
                        guard finite, largest > 0 else {
                            for j in 0..<d { out[i * d + j] = Float(v(j)) }   // the caller names it
                            continue
                        }
                        // ‖x‖ = m·‖x/m‖ (m the largest |x_j|): no overflow or underflow of the squares.
                        var s = 0.0
                        for j in 0..<d { let t = v(j) / largest; s += t * t }
                        let norm = largest * s.squareRoot()
                        for j in 0..<d { out[i * d + j] = Float(v(j) / norm) }
                        norms[i] = norm
                    }
                }
            }
            unitRows = norms
            return NPYArray(shape: shape, values: values)
        }
        // float64: a finite value beyond float32's range would become infinity here and be reported
        // as one the file does not hold; it is named instead.
        let overflow: Int? = data.withUnsafeBytes { raw in
            let p = raw.baseAddress! + payloadStart
            return values.withUnsafeMutableBufferPointer { out -> Int? in
                if elem == 4 {
                    _ = memcpy(out.baseAddress!, p, expected)
                    return nil
                }
                var first: Int? = nil
                for i in 0..<count {
                    let v = p.loadUnaligned(fromByteOffset: i * 8, as: Double.self), f = Float(v)
                    if first == nil && f.isInfinite && v.isFinite { first = i }
                    out[i] = f
                }
                return first
            }
        }
        if let i = overflow {
            let cols = shape.count >= 2 ? shape.dropFirst().reduce(1, *) : 1
            let at = shape.count >= 2 ? "row \(i / Swift.max(1, cols)), column \(i % Swift.max(1, cols))" : "element \(i)"
            throw fail("float64 value at \(at) is beyond float32's range (3.4e38); EmbedScope reads vectors as float32",
                       hint: "scale the vectors down (only their directions are compared)")
        }
        return NPYArray(shape: shape, values: values)
    }

    /// Parser for the header's Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
    /// As strict as numpy: exactly the keys descr, fortran_order and shape, each once (numpy's
    /// literal_eval would keep the last of a repeated key; a file that repeats one is refused),
    /// fortran_order a bare True or False. Returns each value's text: a string without its
    /// quotes, a tuple's inside without its parentheses, a bare word as it is.
    static func parseHeader(_ s: String, fail: (String, String?) -> EmbedScopeError) throws -> [String: String] {
        let c = Array(s.unicodeScalars)
        var i = 0
        func skipSpace() { while i < c.count, c[i] == " " || c[i] == "\t" || c[i] == "\n" || c[i] == "\r" { i += 1 } }
        func bad(_ what: String) -> EmbedScopeError { fail("the header is not an .npy header dict: \(what)", nil) }
        func quoted() throws -> String {
            let q = c[i]
            i += 1
            let start = i
            while i < c.count, c[i] != q { i += 1 }
            guard i < c.count else { throw bad("an unterminated string") }
            defer { i += 1 }
            return String(String.UnicodeScalarView(c[start..<i]))
        }
        skipSpace()
        guard i < c.count, c[i] == "{" else { throw bad("it does not start with '{'") }
        i += 1
        var out: [String: String] = [:]
        var bare: Set<String> = []
        while true {
            skipSpace()
            guard i < c.count else { throw bad("it ends before '}'") }
            if c[i] == "}" { i += 1; break }
            guard c[i] == "'" || c[i] == "\"" else { throw bad("a key that is not a string") }
            let key = try quoted()
            guard ["descr", "fortran_order", "shape"].contains(key) else {
                throw bad("the key '\(key)' (an .npy header has descr, fortran_order and shape, nothing else)")
            }
            guard out[key] == nil else { throw bad("the key '\(key)' twice") }
            skipSpace()
            guard i < c.count, c[i] == ":" else { throw bad("no ':' after '\(key)'") }
            i += 1
            skipSpace()
            guard i < c.count else { throw bad("no value for '\(key)'") }
            if c[i] == "'" || c[i] == "\"" {
                out[key] = try quoted()
            } else if c[i] == "(" {
                let start = i + 1
                while i < c.count, c[i] != ")" { i += 1 }
                guard i < c.count else { throw bad("an unterminated tuple") }
                out[key] = String(String.UnicodeScalarView(c[start..<i]))
                i += 1
            } else {
                let start = i
                while i < c.count, CharacterSet.alphanumerics.contains(c[i]) || c[i] == "_" { i += 1 }
                guard i > start else { throw bad("an unreadable value for '\(key)'") }
                out[key] = String(String.UnicodeScalarView(c[start..<i]))
                bare.insert(key)
            }
            skipSpace()
            guard i < c.count else { throw bad("it ends before '}'") }
            if c[i] == "," { i += 1; continue }
            guard c[i] == "}" else { throw bad("'\(c[i])' after the value of '\(key)'") }
            i += 1
            break
        }
        skipSpace()
        guard i == c.count else { throw bad("text after its '}'") }
        if let f = out["fortran_order"], !bare.contains("fortran_order") || (f != "True" && f != "False") {
            throw bad("fortran_order is '\(f)', not True or False")
        }
        return out
    }

    static func parseShape(_ s: String, fail: (String, String?) -> EmbedScopeError) throws -> [Int] {
        let parts = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for p in parts {
            guard let v = Int(p.hasSuffix("L") ? String(p.dropLast()) : p), v >= 0 else { throw fail("bad shape '(\(s))'", nil) }
            shape.append(v)
        }
        return shape
    }

    /// Writes a float32 C-order .npy (version 1.0). For exports and tests.
    package static func write(shape: [Int], values: [Float], to url: URL) throws {
        precondition(shape.reduce(1, *) == values.count)
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        try AddressSpace.require(values.count * 4 + 1024, for: "writing \(url.lastPathComponent)")
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        values.withUnsafeBytes { data.append(contentsOf: $0) }
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw EmbedScopeError(.io, "cannot write", path: url.path, underlying: error)
        }
    }
}
