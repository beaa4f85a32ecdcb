import Foundation

/// The command-line tools' JSON: the bytes Foundation's `JSONEncoder` writes with
/// `[.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]` (and its default strategies), written
/// straight into an `OutputBytes` instead of through a tree of values.
///
/// `JSONEncoder` builds the whole document as values first: `project --json` of a million rows
/// (a 307 MB document) took 1.4 GB beside the index and 9 of its 15 s, and under an address-space
/// limit it ended by a signal inside the encoder. Here each value is written where it goes; an
/// object's members are reordered by key (UTF-8 bytes, as `JSONEncoder` sorts) when its encoding
/// ends, so the extra memory is the buffer itself and, for an object whose members came unsorted,
/// one copy of that object; a buffer that cannot grow is an `.outOfMemory` error.
///
/// What is the same as `JSONEncoder` (tested byte for byte, `PrettyJSONTests`): indentation of two
/// spaces, `"key" : value`, an empty array or object as `[`, an empty line, `]`; numbers as their
/// `description` without a trailing `.0`; NaN and infinities refused (`EncodingError`); strings
/// escaped the same way (`\"`, `\\`, `\b \f \n \r \t`, other controls `\u00XX`, `/` as is);
/// `Date` by its own `Encodable` (seconds since 2001), `Data` as Base64, `URL` as its absolute
/// string, `Decimal` as a number; a key written twice in one object: the later value; a value that
/// encodes nothing: `{}` as an empty object. Containers must be used in order — a nested container
/// is finished before its parent writes again (every synthesized `Encodable` does so); anything
/// else is an `EncodingError`, not a wrong document.
package enum PrettyJSON {
    /// The other layout: `JSONEncoder` with `[.sortedKeys, .withoutEscapingSlashes]` (no
    /// whitespace), and non-finite numbers as the strings "NaN", "Infinity", "-Infinity" (its
    /// `.convertToString` strategy) — the HTTP API's bodies.
    package struct Style: Sendable {
        package var pretty = true
        package var nonFiniteAsStrings = false
        package static let pretty = Style()
        package static let compact = Style(pretty: false, nonFiniteAsStrings: true)
    }

    /// `value` as JSON into `out` (appended).
    package static func encode<T: Encodable>(_ value: T, into out: OutputBytes, style: Style = .pretty) throws {
        let w = JSONStreamWriter(out, style: style)
        try w.encodeValue(value, depth: 0, parent: nil, key: nil)
        try w.closeFrames(downTo: 0)
        if let failure = w.failure { throw failure }
    }

    /// `value` as JSON in a buffer of its own.
    package static func encode<T: Encodable>(_ value: T, what: String = "the JSON output", style: Style = .pretty) throws -> OutputBytes {
        let out = OutputBytes(what: what)
        try encode(value, into: out, style: style)
        return out
    }
}

/// One element of a coding path, built only where a value has members (`Encoder.codingPath`).
final class JSONPathNode {
    let parent: JSONPathNode?
    let key: any CodingKey
    init(_ parent: JSONPathNode?, _ key: any CodingKey) { self.parent = parent; self.key = key }

    static func path(_ node: JSONPathNode?) -> [any CodingKey] {
        var keys: [any CodingKey] = []
        var n = node
        while let m = n { keys.append(m.key); n = m.parent }
        return keys.reversed()
    }
}

/// An array element's key, spelt as `JSONEncoder` spells it ("Index 3").
struct JSONIndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(index: Int) { intValue = index; stringValue = "Index \(index)" }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.init(index: intValue) }
}

/// An object or array being written: where it is in the buffer and what it holds so far.
final class JSONFrame {
    let keyed: Bool
    /// Indentation (in steps of two spaces) of its closing bracket; its members are one deeper.
    let depth: Int
    var count = 0
    var closed = false
    /// Objects: each member's key, where its separator starts and where its `"key"` starts.
    var keys: [String] = []
    var separatorStarts: [Int] = []
    var contentStarts: [Int] = []

    init(keyed: Bool, depth: Int) {
        self.keyed = keyed
        self.depth = depth
    }
}

final class JSONStreamWriter {
    let out: OutputBytes
    /// The open containers, outermost first.
    var frames: [JSONFrame] = []
    /// A misuse seen where the `Encoder` API cannot throw (a container asked for twice, a
    /// container written to after its parent moved on): thrown when the document ends.
    var failure: (any Error)?

    let style: PrettyJSON.Style

    init(_ out: OutputBytes, style: PrettyJSON.Style = .pretty) {
        self.out = out
        self.style = style
    }

    func fail(_ message: String, _ path: [any CodingKey]) {
        if failure == nil {
            failure = EncodingError.invalidValue("", .init(codingPath: path, debugDescription: message))
        }
    }

    // MARK: Values

    /// Writes `value` at the current position; `depth` is the indentation of the brackets it would open.
    func encodeValue<T: Encodable>(_ value: T, depth: Int, parent: JSONPathNode?, key: (any CodingKey)?) throws {
        // Exact types first (no dynamic cast on the common path); then the casts JSONEncoder makes.
        if T.self == Double.self, let v = value as? Double { return try writeNumber(v, parent, key) }
        if T.self == String.self, let v = value as? String { return try writeString(v) }
        if T.self == Int.self, let v = value as? Int { return try out.append(v.description) }
        if T.self == Float.self, let v = value as? Float { return try writeNumber(v, parent, key) }
        if T.self == Bool.self, let v = value as? Bool { return try out.append(v ? "true" : "false") }
        // (JSONEncoder casts with `as?`, which also unwraps an Optional; an Optional here encodes
        // its wrapped value through a single value container, which comes back with the exact type.)
        if T.self == URL.self, let v = value as? URL { return try writeString(v.absoluteString) }
        if T.self == Decimal.self, let v = value as? Decimal { return try out.append(v.description) }
        if T.self == Data.self, let v = value as? Data { return try writeString(v.base64EncodedString()) }
        let node = key.map { JSONPathNode(parent, $0) } ?? parent
        let mark = frames.count
        let encoder = JSONValueEncoder(writer: self, depth: depth, path: node, mark: mark)
        try value.encode(to: encoder)
        try closeFrames(downTo: mark)
        if case .nothing = encoder.state {
            try out.append(style.pretty ? "{\n\n" : "{")
            try indent(depth)
            try out.append("}")
        }
    }

    func writeNumber<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F, _ parent: JSONPathNode?, _ key: (any CodingKey)?) throws {
        guard value.isFinite else {
            if style.nonFiniteAsStrings { return try writeString(value.isNaN ? "NaN" : value > 0 ? "Infinity" : "-Infinity") }
            let path = JSONPathNode.path(parent) + (key.map { [$0] } ?? [])
            throw EncodingError.invalidValue(value, .init(codingPath: path, debugDescription: "Unable to encode \(F.self).\(value) directly in JSON."))
        }
        var s = value.description
        if s.hasSuffix(".0") { s.removeLast(2) }
        try out.append(s)
    }

    func writeString(_ s: String) throws {
        try out.append(UInt8(ascii: "\""))
        var s = s
        try s.withUTF8 { bytes in
            var mark = 0
            for i in 0..<bytes.count {
                let b = bytes[i]
                guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
                try out.append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[mark..<i])))
                mark = i + 1
                switch b {
                case UInt8(ascii: "\""): try out.append("\\\"")
                case UInt8(ascii: "\\"): try out.append("\\\\")
                case 0x08: try out.append("\\b")
                case 0x0C: try out.append("\\f")
                case 0x0A: try out.append("\\n")
                case 0x0D: try out.append("\\r")
                case 0x09: try out.append("\\t")
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    try out.append("\\u00")
                    try out.append(hex[Int(b >> 4)])
                    try out.append(hex[Int(b & 15)])
                }
            }
            try out.append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[mark..<bytes.count])))
        }
        try out.append(UInt8(ascii: "\""))
    }

    /// Indentation (pretty only).
    func indent(_ depth: Int) throws {
        if style.pretty { try out.append(repeating: UInt8(ascii: " "), count: 2 * depth) }
    }

    /// Before a member or element: `,` after the first, and (pretty) a new line.
    func separator(first: Bool) throws {
        if style.pretty { try out.append(first ? "\n" : ",\n") } else if !first { try out.append(UInt8(ascii: ",")) }
    }

    // MARK: Containers

    func open(keyed: Bool, depth: Int) throws -> JSONFrame {
        try out.append(keyed ? UInt8(ascii: "{") : UInt8(ascii: "["))
        let f = JSONFrame(keyed: keyed, depth: depth)
        frames.append(f)
        return f
    }

    /// Makes `frame` the innermost open container (closing the ones opened inside it), or throws
    /// if it was closed already.
    func reach(_ frame: JSONFrame, _ path: @autoclosure () -> [any CodingKey]) throws {
        guard !frame.closed else {
            throw EncodingError.invalidValue("", .init(codingPath: path(),
                debugDescription: "a container was written to after its encoding ended (PrettyJSON writes in order)"))
        }
        while let top = frames.last, top !== frame { try close(frames.removeLast()) }
    }

    /// Starts an object's member: separator, indentation, `"key" : `.
    func beginMember(_ frame: JSONFrame, key: String, _ path: @autoclosure () -> [any CodingKey]) throws {
        try reach(frame, path())
        frame.separatorStarts.append(out.count)
        try separator(first: frame.count == 0)
        try indent(frame.depth + 1)
        frame.contentStarts.append(out.count)
        frame.keys.append(key)
        frame.count += 1
        try writeString(key)
        try out.append(style.pretty ? " : " : ":")
    }

    /// Starts an array's element: separator and indentation.
    func beginElement(_ frame: JSONFrame, _ path: @autoclosure () -> [any CodingKey]) throws {
        try reach(frame, path())
        try separator(first: frame.count == 0)
        try indent(frame.depth + 1)
        frame.count += 1
    }

    func closeFrames(downTo mark: Int) throws {
        while frames.count > mark { try close(frames.removeLast()) }
    }

    private func close(_ f: JSONFrame) throws {
        f.closed = true
        let bracket = f.keyed ? UInt8(ascii: "}") : UInt8(ascii: "]")
        if f.count == 0 {
            if style.pretty { try out.append("\n\n") }
        } else {
            if f.keyed { try sortMembers(f) }
            if style.pretty { try out.append("\n") }
        }
        try indent(f.depth)
        try out.append(bracket)
    }

    /// Puts an object's members in key order (UTF-8 bytes), the later of two with one key kept.
    private func sortMembers(_ f: JSONFrame) throws {
        let keys = f.keys
        let n = keys.count
        var ordered = true
        for i in 1..<n where !keys[i - 1].utf8.lexicographicallyPrecedes(keys[i].utf8) { ordered = false; break }
        if ordered { return }
        // Stable sort by key; of equal keys the last written is kept (JSONEncoder's dictionary).
        var order = Array(0..<n)
        order.sort { keys[$0].utf8.lexicographicallyPrecedes(keys[$1].utf8) || (keys[$0] == keys[$1] && $0 < $1) }
        var kept: [Int] = []
        kept.reserveCapacity(n)
        for (j, i) in order.enumerated() where j + 1 == n || keys[order[j + 1]] != keys[i] { kept.append(i) }
        let start = f.contentStarts[0], end = out.count
        let separatorLength = f.contentStarts[1] - f.separatorStarts[1]   // "," (pretty: a new line and the indentation)
        if end - start <= Self.copyLimit || n > 32 {
            try reorderByCopy(f, kept, start: start, end: end)
        } else {
            try reorderInPlace(f, kept, start: start, end: end, separatorLength: separatorLength)
        }
    }

    /// Objects up to this size are reordered through a copy; larger ones (a report's million
    /// points) in place, so that the document is never held twice.
    static let copyLimit = 1 << 20
    /// The copy's buffer, kept between objects.
    private lazy var scratch = OutputBytes(what: out.what)

    private func reorderByCopy(_ f: JSONFrame, _ kept: [Int], start: Int, end: Int) throws {
        let n = f.keys.count
        scratch.truncate(to: 0)
        try out.withBytes { try scratch.append(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
        out.truncate(to: start)
        try scratch.withBytes { m in
            for (j, i) in kept.enumerated() {
                if j > 0 {
                    try separator(first: false)
                    try indent(f.depth + 1)
                }
                let from = f.contentStarts[i] - start
                let to = (i + 1 < n ? f.separatorStarts[i + 1] : end) - start
                try out.append(UnsafeRawBufferPointer(rebasing: m[from..<to]))
            }
        }
        if scratch.count > Self.copyLimit { scratch = OutputBytes(what: out.what) }
    }

    /// With a separator added after the last member, the object's members are units "member,
    /// separator" laid end to end; each unit in key order is rotated to the front of the ones not
    /// yet placed (the smaller side of each rotation goes through a buffer), duplicates end up last
    /// and are cut off with the final separator.
    private func reorderInPlace(_ f: JSONFrame, _ kept: [Int], start: Int, end: Int, separatorLength: Int) throws {
        let n = f.keys.count
        try separator(first: false)
        try indent(f.depth + 1)
        var position = (0..<n).map { f.contentStarts[$0] }
        let length = (0..<n).map { (($0 + 1 < n ? f.separatorStarts[$0 + 1] : end) - f.contentStarts[$0]) + separatorLength }
        var placedEnd = start
        for i in kept {
            let p = position[i], len = length[i]
            if p != placedEnd {
                try rotate(from: placedEnd, middle: p, to: p + len)
                for u in 0..<n where position[u] >= placedEnd && position[u] < p { position[u] += len }
                position[i] = placedEnd
            }
            placedEnd += len
        }
        out.truncate(to: placedEnd - separatorLength)
    }

    /// Moves the bytes [middle, end) before [from, middle).
    private func rotate(from: Int, middle: Int, to end: Int) throws {
        let left = middle - from, right = end - middle
        let buffer = OutputBytes(what: out.what)
        try out.withBytes { b in
            let base = UnsafeMutableRawPointer(mutating: b.baseAddress!)
            if right <= left {
                try buffer.append(UnsafeRawBufferPointer(start: base + middle, count: right))
                memmove(base + from + right, base + from, left)
                buffer.withBytes { _ = memcpy(base + from, $0.baseAddress!, right) }
            } else {
                try buffer.append(UnsafeRawBufferPointer(start: base + from, count: left))
                memmove(base + from, base + middle, right)
                buffer.withBytes { _ = memcpy(base + from + right, $0.baseAddress!, left) }
            }
        }
    }
}

/// The `Encoder` of one value.
final class JSONValueEncoder: Encoder {
    enum State { case nothing, keyed(JSONFrame), unkeyed(JSONFrame), single }

    let writer: JSONStreamWriter
    let depth: Int
    let node: JSONPathNode?
    let mark: Int
    var state = State.nothing

    init(writer: JSONStreamWriter, depth: Int, path: JSONPathNode?, mark: Int) {
        self.writer = writer
        self.depth = depth
        self.node = path
        self.mark = mark
    }

    var codingPath: [any CodingKey] { JSONPathNode.path(node) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// A frame for a container of this value: the one it has (two `Encodable`s writing one
    /// object, as `Merged`), or a new one.
    private func frame(keyed: Bool) -> JSONFrame {
        switch state {
        case .keyed(let f) where keyed && !f.closed: return f
        case .unkeyed(let f) where !keyed && !f.closed: return f
        case .nothing:
            do {
                let f = try writer.open(keyed: keyed, depth: depth)
                state = keyed ? .keyed(f) : .unkeyed(f)
                return f
            } catch {
                writer.failure = writer.failure ?? error
            }
        default:
            writer.fail("a value asked for a second container of another kind", codingPath)
        }
        let detached = JSONFrame(keyed: keyed, depth: depth)
        detached.closed = true  // writes to it throw
        return detached
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(JSONKeyedContainer<Key>(writer: writer, frame: frame(keyed: true), node: node))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        JSONUnkeyedContainer(writer: writer, frame: frame(keyed: false), node: node)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        JSONSingleContainer(encoder: self)
    }
}

struct JSONKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: JSONStreamWriter
    let frame: JSONFrame
    let node: JSONPathNode?

    var codingPath: [any CodingKey] { JSONPathNode.path(node) }

    private func begin(_ key: Key) throws {
        try writer.beginMember(frame, key: key.stringValue, JSONPathNode.path(node) + [key])
    }

    mutating func encodeNil(forKey key: Key) throws { try begin(key); try writer.out.append("null") }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try begin(key); try writer.out.append(value ? "true" : "false") }
    mutating func encode(_ value: String, forKey key: Key) throws { try begin(key); try writer.writeString(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try begin(key); try writer.writeNumber(value, node, key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try begin(key); try writer.writeNumber(value, node, key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try begin(key); try writer.out.append(value.description) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try begin(key); try writer.out.append(value.description) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try begin(key); try writer.out.append(value.description) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try begin(key); try writer.out.append(value.description) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try begin(key); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try begin(key); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try begin(key); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try begin(key); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try begin(key); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try begin(key); try writer.out.append(value.description) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try begin(key)
        try writer.encodeValue(value, depth: frame.depth + 1, parent: node, key: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let f = nested(keyed: true, key)
        return KeyedEncodingContainer(JSONKeyedContainer<NestedKey>(writer: writer, frame: f, node: JSONPathNode(node, key)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        JSONUnkeyedContainer(writer: writer, frame: nested(keyed: false, key), node: JSONPathNode(node, key))
    }

    private func nested(keyed: Bool, _ key: Key) -> JSONFrame {
        do {
            try begin(key)
            return try writer.open(keyed: keyed, depth: frame.depth + 1)
        } catch {
            writer.failure = writer.failure ?? error
            let detached = JSONFrame(keyed: keyed, depth: frame.depth + 1)
            detached.closed = true
            return detached
        }
    }

    mutating func superEncoder() -> any Encoder { unsupportedSuperEncoder() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { unsupportedSuperEncoder() }

    private func unsupportedSuperEncoder() -> any Encoder {
        writer.fail("superEncoder is not supported by PrettyJSON", codingPath)
        let e = JSONValueEncoder(writer: writer, depth: frame.depth + 1, path: node, mark: writer.frames.count)
        e.state = .single
        return e
    }
}

struct JSONUnkeyedContainer: UnkeyedEncodingContainer {
    let writer: JSONStreamWriter
    let frame: JSONFrame
    let node: JSONPathNode?

    var codingPath: [any CodingKey] { JSONPathNode.path(node) }
    var count: Int { frame.count }

    private func begin() throws {
        try writer.beginElement(frame, JSONPathNode.path(node) + [JSONIndexKey(index: frame.count)])
    }

    mutating func encodeNil() throws { try begin(); try writer.out.append("null") }
    mutating func encode(_ value: Bool) throws { try begin(); try writer.out.append(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { try begin(); try writer.writeString(value) }
    mutating func encode(_ value: Double) throws {
        let key = JSONIndexKey(index: frame.count)
        try begin(); try writer.writeNumber(value, node, key)
    }
    mutating func encode(_ value: Float) throws {
        let key = JSONIndexKey(index: frame.count)
        try begin(); try writer.writeNumber(value, node, key)
    }
    mutating func encode(_ value: Int) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: Int8) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: Int16) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: Int32) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: Int64) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt8) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt16) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt32) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt64) throws { try begin(); try writer.out.append(value.description) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let key = JSONIndexKey(index: frame.count)
        try begin()
        try writer.encodeValue(value, depth: frame.depth + 1, parent: node, key: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let key = JSONIndexKey(index: frame.count)
        return KeyedEncodingContainer(JSONKeyedContainer<NestedKey>(writer: writer, frame: nested(keyed: true), node: JSONPathNode(node, key)))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let key = JSONIndexKey(index: frame.count)
        return JSONUnkeyedContainer(writer: writer, frame: nested(keyed: false), node: JSONPathNode(node, key))
    }

    private func nested(keyed: Bool) -> JSONFrame {
        do {
            try begin()
            return try writer.open(keyed: keyed, depth: frame.depth + 1)
        } catch {
            writer.failure = writer.failure ?? error
            let detached = JSONFrame(keyed: keyed, depth: frame.depth + 1)
            detached.closed = true
            return detached
        }
    }

    mutating func superEncoder() -> any Encoder {
        writer.fail("superEncoder is not supported by PrettyJSON", codingPath)
        let e = JSONValueEncoder(writer: writer, depth: frame.depth + 1, path: node, mark: writer.frames.count)
        e.state = .single
        return e
    }
}

struct JSONSingleContainer: SingleValueEncodingContainer {
    let encoder: JSONValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    private var writer: JSONStreamWriter { encoder.writer }

    /// One value per container: a second is an error (JSONEncoder stops the program there).
    private func begin() throws {
        guard case .nothing = encoder.state else {
            throw EncodingError.invalidValue("", .init(codingPath: codingPath,
                debugDescription: "a single value container was asked for a second value"))
        }
        encoder.state = .single
    }

    mutating func encodeNil() throws { try begin(); try writer.out.append("null") }
    mutating func encode(_ value: Bool) throws { try begin(); try writer.out.append(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { try begin(); try writer.writeString(value) }
    mutating func encode(_ value: Double) throws { try begin(); try writer.writeNumber(value, encoder.node, nil) }
    mutating func encode(_ value: Float) throws { try begin(); try writer.writeNumber(value, encoder.node, nil) }
    mutating func encode(_ value: Int) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: Int8) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: Int16) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: Int32) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: Int64) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt8) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt16) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt32) throws { try begin(); try writer.out.append(value.description) }
    mutating func encode(_ value: UInt64) throws { try begin(); try writer.out.append(value.description) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try begin()
        try writer.encodeValue(value, depth: encoder.depth, parent: encoder.node, key: nil)
    }
}
