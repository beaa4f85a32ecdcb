import Foundation
import XCTest
@testable import EmbedScopeAnalysis
@testable import EmbedScopeCore

/// `PrettyJSON` (the CLI's `--json`) writes the bytes `JSONEncoder` writes with
/// `[.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]`: every output documented in docs/json.md
/// was made by `JSONEncoder` until it was replaced, so any byte of difference here is a change of
/// the outputs.
final class PrettyJSONTests: XCTestCase {
    static func reference<T: Encodable>(_ value: T, style: PrettyJSON.Style = .pretty) throws -> String {
        let e = JSONEncoder()
        if style.pretty {
            e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        } else {
            // The HTTP API's encoder (`JSONCoding.encoder`).
            e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        }
        return String(decoding: try e.encode(value), as: UTF8.self)
    }

    static func ours<T: Encodable>(_ value: T, style: PrettyJSON.Style = .pretty) throws -> String {
        try PrettyJSON.encode(value, style: style).withBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// The same bytes as `JSONEncoder` in both layouts: the CLI's (pretty) and the API's (compact).
    func assertSame<T: Encodable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) throws {
        for style in [PrettyJSON.Style.pretty, .compact] {
            let want = try Self.reference(value, style: style)
            let got = try Self.ours(value, style: style)
            XCTAssertEqual(got, want, "pretty: \(style.pretty)", file: file, line: line)
        }
    }

    struct Scalars: Encodable {
        var zDouble: Double
        var aFloat: Float
        var int: Int
        var int8: Int8 = -128
        var uint64: UInt64 = .max
        var int64: Int64 = .min
        var bool = true
        var string: String
        var missing: Double? = nil
        var present: Int? = 3
        var url = URL(fileURLWithPath: "/tmp/a b/ü.png")
        var data = Data([0, 1, 2, 250, 251])
        var date = Date(timeIntervalSinceReferenceDate: 12.5)
        var decimal = Decimal(string: "3.25")!
    }

    func testScalarsNumbersAndStrings() throws {
        let doubles: [Double] = [0, -0.0, 1, -1, 1.5, 0.1, 1e-300, 5e-324, 1e300, .greatestFiniteMagnitude, 1e16, 1e15,
                                 123456789012345680000, 2.5e-5, 0.0020425038674555603, -3.0e-7, 100, 1e21]
        let floats: [Float] = [0, 1, 0.1, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1e-8, 3.4e10, 16777216]
        let strings = ["", "plain", "a/b\\c\"d", "tab\tnl\ncr\rbs\u{8}ff\u{C}", "\u{0}\u{1}\u{1F}\u{7F}", "ü é 中文 🙂",
                       "\u{2028}\u{2029}\u{202E}", "T-shirt/top", String(repeating: "x", count: 5000)]
        for (i, d) in doubles.enumerated() {
            try assertSame(Scalars(zDouble: d, aFloat: floats[i % floats.count], int: i * 1_000_003 - 7, string: strings[i % strings.count]))
        }
        try assertSame(doubles)
        try assertSame(floats)
        try assertSame(strings)
        try assertSame([Int.min, 0, Int.max])
        try assertSame([Double?.none, 1, nil])
    }

    struct Empty: Encodable {}
    struct Nothing: Encodable { func encode(to encoder: any Encoder) throws {} }
    struct Nested: Encodable {
        var name: String
        var children: [Nested]
        var table: [String: Double]
        var matrix: [[Int]]
        var empty: [Int] = []
        var emptyObject: [String: Int] = [:]
        var intKeys: [Int: String] = [2: "two", 10: "ten", -1: "minus"]
        var thing = Empty()
    }

    func testNestingEmptyContainersAndKeyOrder() throws {
        // Keys that sort differently by bytes, by case and by Unicode order: the UTF-8 bytes decide.
        let keys = ["b", "B", "a", "A", "_", "é", "e", "z", "Z", "10", "9", "a b", "ab", "", "中", "🙂", "\u{7F}"]
        let table = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, Double($0) / 3) })
        let leaf = Nested(name: "leaf", children: [], table: [:], matrix: [[], [1]])
        let mid = Nested(name: "mid", children: [leaf, leaf], table: table, matrix: [[1, 2], [3]])
        try assertSame(Nested(name: "root", children: [mid, leaf], table: table, matrix: []))
        try assertSame([Empty(), Empty()])
        try assertSame(Empty())
        try assertSame([[Int]]())
        try assertSame([String: [Int]]())
        try assertSame(["x": [Empty()]])
        try assertSame([Nothing(), Nothing()])
    }

    /// Two `Encodable`s writing one object (`Merged`: the CLI's `schemaVersion`), a key in both.
    struct A: Encodable { var zeta = 1; var alpha = "a"; var shared = "from A" }
    struct B: Encodable { var shared = "from B"; var beta: [Double] = [1, 2] }

    func testMergedObjectsAndRepeatedKeys() throws {
        try assertSame(Merged(A(), B()))
        try assertSame([Merged(B(), A()), Merged(B(), A())])
        try assertSame(Merged(Merged(A(), B()), ["extra": 3]))
    }

    /// Hand-written encodings with nested containers, as some types of the package have.
    struct Manual: Encodable {
        enum K: String, CodingKey { case outer, list, z, a }
        enum L: String, CodingKey { case inner, value }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            try c.encode(1, forKey: .z)
            var n = c.nestedContainer(keyedBy: L.self, forKey: .outer)
            try n.encode("x", forKey: .value)
            try n.encodeNil(forKey: .inner)
            var u = c.nestedUnkeyedContainer(forKey: .list)
            try u.encode(1.5)
            var uu = u.nestedUnkeyedContainer()
            try uu.encode(true)
            var uk = u.nestedContainer(keyedBy: L.self)
            try uk.encode(2, forKey: .value)
            try u.encodeNil()
            try c.encode([Float(0.25)], forKey: .a)
        }
    }

    func testNestedContainers() throws {
        try assertSame(Manual())
        try assertSame([Manual(), Manual()])
    }

    func testNonFiniteNumbersAreRefusedWithTheirPath() throws {
        struct P: Encodable { var ok = 1.0; var values: [Double] }
        for bad in [Double.nan, .infinity, -.infinity] {
            XCTAssertThrowsError(try Self.reference(P(values: [1, bad])))
            XCTAssertThrowsError(try Self.ours(P(values: [1, bad]))) { error in
                guard case EncodingError.invalidValue(_, let context) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(context.codingPath.map(\.stringValue), ["values", "Index 1"])
            }
        }
        XCTAssertThrowsError(try Self.ours([Float.nan]))
        // The API's layout writes them as strings, as its JSONEncoder did.
        struct Q: Encodable { var x: [Double] = [.nan, .infinity, -.infinity, 1]; var f: Float = .nan }
        XCTAssertEqual(try Self.ours(Q(), style: .compact), try Self.reference(Q(), style: .compact))
        XCTAssertEqual(try Self.ours(Q(), style: .compact), #"{"f":"NaN","x":["NaN","Infinity","-Infinity",1]}"#)
    }

    /// A random document of every kind of value, many times (the fixed cases above miss
    /// combinations: an empty object in an array in an object whose keys came unsorted …).
    indirect enum Doc: Encodable {
        case number(Double), int(Int), string(String), bool(Bool), null
        case array([Doc]), object([(String, Doc)])

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .number(let d): var c = encoder.singleValueContainer(); try c.encode(d)
            case .int(let i): var c = encoder.singleValueContainer(); try c.encode(i)
            case .string(let s): var c = encoder.singleValueContainer(); try c.encode(s)
            case .bool(let b): var c = encoder.singleValueContainer(); try c.encode(b)
            case .null: var c = encoder.singleValueContainer(); try c.encodeNil()
            case .array(let a):
                var c = encoder.unkeyedContainer()
                for d in a { try c.encode(d) }
            case .object(let members):
                var c = encoder.container(keyedBy: Key.self)
                for (k, d) in members { try c.encode(d, forKey: Key(stringValue: k)) }
            }
        }

        static func random(_ rng: inout SplitMix64, depth: Int) -> Doc {
            let names = ["row", "path", "class", "coordinates", "a", "B", "é", "", "row", "x/y", "\"q\""]
            switch rng.next() % (depth > 3 ? 5 : 7) {
            case 0: return .number(Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF) * (rng.next() % 2 == 0 ? 1 : -1))
            case 1: return .int(Int(truncatingIfNeeded: rng.next()) >> Int(rng.next() % 60))
            case 2: return .string(String(names[Int(rng.next() % UInt64(names.count))].reversed()) + "\u{1}\n")
            case 3: return .bool(rng.next() % 2 == 0)
            case 4: return .null
            case 5: return .array((0..<Int(rng.next() % 4)).map { _ in random(&rng, depth: depth + 1) })
            default:
                return .object((0..<Int(rng.next() % 5)).map { _ in
                    (names[Int(rng.next() % UInt64(names.count))], random(&rng, depth: depth + 1))
                })
            }
        }
    }

    func testRandomDocuments() throws {
        var rng = SplitMix64(seed: 2026)
        for _ in 0..<400 { try assertSame(Doc.random(&rng, depth: 0)) }
    }

    /// The reports the CLI prints the most rows of, as they are.
    func testAReportAsTheCLIPrintsIt() throws {
        let points = (0..<50).map { i in
            ProjectionReport.Point(row: i, path: "c\(i % 3)/img \(i).png", class: i % 2 == 0 ? "T-shirt/top" : "Bag",
                                   coordinates: [Double(i) * 0.1, -1e-7 * Double(i), 3])
        }
        let report = ProjectionReport(method: .pca, space: "embedding", rows: 50, dim: 3, components: 3,
                                      explainedVariance: [0.5, 0.25, 0], explainedVarianceRatio: [0.6, 0.3, 0.1],
                                      shrinkage: nil, reducedBy: nil, definition: "PCA", points: points,
                                      prototypes: [.init(set: "head", name: "Bag", coordinates: [1, 0, -0.5])])
        try assertSame(report)
        try assertSame(Merged(report, ["schemaVersion": 2]))
    }

    /// Objects larger than `copyLimit` are reordered in place (rotations): the same bytes, a key
    /// written twice included.
    struct Big: Encodable {
        var zz = 1
        var points: [Double]
        var aa = "x"
        var mm: [String]
        var bb: [Int] = [3, 1]
    }

    func testLargeObjectsReorderedInPlace() throws {
        let big = Big(points: (0..<100_000).map { Double($0) * 0.37 }, mm: (0..<40_000).map { "m\($0)" })
        XCTAssertGreaterThan(try Self.ours(big).utf8.count, JSONStreamWriter.copyLimit)
        try assertSame(big)
        try assertSame(Merged(big, ["aa": [5], "a": [6]]))
        try assertSame(Merged(["zz": 0], big))
        try assertSame([big, big])
    }

    /// The buffer's growth is checked: past what can be mapped it is an error, not a trap.
    func testBufferGrowthThatCannotHappenIsAnError() throws {
        let out = OutputBytes(what: "the test output")
        try out.append("abc")
        XCTAssertThrowsError(try out.reserve(Int.max - 1)) { error in
            XCTAssertEqual((error as? EmbedScopeError)?.kind, .outOfMemory)
        }
        XCTAssertEqual(out.count, 3)
    }
}
