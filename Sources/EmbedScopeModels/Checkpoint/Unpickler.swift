import Foundation
import EmbedScopeCore
import EmbedScopeImages

/// A restricted unpickler for the pickles `torch.save` writes: it decodes the opcodes into
/// `PickleValue`s and never executes anything. GLOBAL / STACK_GLOBAL / INST resolve names through
/// the allow list in `TorchGlobal` (anything else is refused, naming the global); REDUCE, NEWOBJ
/// and BUILD on allowed globals build values (`Unpickler+Torch.swift`); persistent ids become
/// storage references.
///
/// Supported: the opcodes of protocols 2–5 except out-of-band buffers and the extension
/// registry, plus the protocol 0/1 opcodes that carry numbers (INT, LONG, FLOAT) or memo indices
/// (PUT, GET) in text. Not supported (refused with the opcode's name): STRING, UNICODE (protocol
/// 0 strings), EXT1/2/4, NEXT_BUFFER, READONLY_BUFFER.
///
/// Each `load` reads one pickle (up to STOP) from a byte buffer; the heap persists across
/// loads (the legacy format is five pickles in a row), the memo does not.
///
/// Memory: a pickle can copy a container it already built for a few bytes (`builtins.set(l)` or
/// `OrderedDict(pairs)` through the memo, again and again), so every value placed in or copied
/// into a container is counted (`charge`) against a running allowance proportional to the pickle
/// bytes read so far (`valuesPerByte` per byte plus `baseValues`). torch.save's pickles build at
/// most about 3 values per byte: every value on the stack costs at least one opcode byte, is
/// copied off the MARK stack at most once and stored once, and a set is copied from its list once.
struct Unpickler {
    /// For error messages: the file, and the name of the pickle being read.
    let path: String
    var heap = PickleHeap()
    /// Storage roots seen in persistent ids: key → (dtype, element count).
    var storageRoots: [String: (dtype: TorchDType, count: Int)] = [:]
    /// No storage may claim more bytes than this (the file's size: storages are stored uncompressed).
    var maxStorageBytes = Int.max
    /// Values placed in or copied into containers so far, over every load (see `charge`).
    private(set) var valuesBuilt = 0
    static let valuesPerByte = 4
    static let baseValues = 1 << 20
    /// At most this many objects, stack entries and memo entries at once, however long the
    /// pickle: the per-byte allowance above bounds copies, not the ~50–350 bytes each object
    /// costs here, so 20 MB of EMPTY_LIST opcodes reached 1 GB (held-out sweep). torch.save's
    /// pickle of a whole CNN checkpoint holds a few thousand (ResNet-50: ~10 per tensor).
    static let maxObjects = 1 << 21
    /// Pickle bytes read by earlier loads, and where the current load started.
    private var bytesBefore = 0
    private var loadStart = 0

    // Per-load state.
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var label = ""
    private var fileOffset = 0
    private var position = 0

    init(path: String) {
        self.path = path
    }

    /// Reads one pickle from `bytes` starting at `start`; returns its value and the position just
    /// past STOP. `label` names the pickle in errors ("data.pkl"); `fileOffset` is where `bytes`
    /// begins in the file, so errors give file offsets.
    mutating func load(_ bytes: UnsafeRawBufferPointer, from start: Int = 0, label: String, fileOffset: Int = 0) throws -> (value: PickleValue, end: Int) {
        stack = []
        marks = []
        memo = [:]
        self.label = label
        self.fileOffset = fileOffset
        loadStart = start
        position = start
        var r = ByteReader(bytes: bytes, position: start)
        do {
            let value = try run(&r)
            bytesBefore += r.position - start
            return (value, r.position)
        } catch ByteReader.Failure.truncated {
            throw error("ends in the middle of a pickle opcode (at \(at(r.position))): the file is truncated or corrupt",
                        hint: "the file is incomplete: download or copy it again")
        } catch ByteReader.Failure.lineTooLong {
            throw corrupt("text operand longer than \(ByteReader.maxLine) bytes")
        }
    }

    // MARK: - Errors

    /// A `.checkpoint` error that says which pickle and byte it comes from.
    func error(_ message: String, hint: String? = nil) -> EmbedScopeError {
        // Messages quote strings from the pickle: escape what could act on a terminal.
        EmbedScopeError(.checkpoint, "\(label): \(message)".escapedForDisplay, path: path, hint: hint)
    }

    /// Where `p` (a position in the bytes being read) is: in the pickle, and in the file.
    func at(_ p: Int) -> String {
        "byte \(p - loadStart) of \(label), byte \(fileOffset + p) of the file"
    }

    func corrupt(_ message: String) -> EmbedScopeError {
        error("\(message) (opcode at \(at(position))); the file is corrupt or not a PyTorch checkpoint")
    }

    // MARK: - Memory budget

    /// Counts `n` values placed in or copied into a container (or `n` bytes of a bytes object
    /// built from a string), and refuses the pickle once they outgrow `valuesPerByte` per pickle
    /// byte read so far plus `baseValues`: without this, a megabyte of pickle that re-copies a
    /// million-item list a few bytes at a time asks for gigabytes. Checked before the values are
    /// built.
    mutating func charge(_ n: Int) throws {
        let read = bytesBefore + (position - loadStart) + 1
        let allowance = Self.baseValues + Self.valuesPerByte * read
        let (total, overflow) = valuesBuilt.addingReportingOverflow(n)
        guard !overflow, total <= allowance else {
            throw error("the pickle builds more than \(allowance) values for its first \(read) bytes (\(Self.valuesPerByte) per byte + \(Self.baseValues); "
                        + "opcode at \(at(position))): not a checkpoint torch.save writes, which builds a few values per byte",
                        hint: "the file is corrupt or crafted to exhaust memory; a checkpoint saved by torch.save loads within this limit")
        }
        valuesBuilt = total
    }

    // MARK: - The opcode loop

    private mutating func run(_ r: inout ByteReader) throws -> PickleValue {
        while true {
            position = r.position
            guard stack.count &+ memo.count &+ heap.count <= Self.maxObjects else {
                throw error("the pickle holds more than \(Self.maxObjects) objects, stack and memo entries (opcode at \(at(position))): not a checkpoint torch.save writes",
                            hint: "the file is corrupt or crafted to exhaust memory")
            }
            let op = try r.u8()
            switch op {
            // Framing and protocol.
            case 0x80: // PROTO
                let proto = try r.u8()
                guard proto <= 5 else { throw corrupt("pickle protocol \(proto) is newer than 5") }
            case 0x95: // FRAME: a length hint; the bytes follow inline.
                _ = try r.u64()
            case 0x2E: // STOP
                return try pop()

            // Stack manipulation.
            case 0x28: // MARK
                marks.append(stack.count)
            case 0x30: // POP (of an empty frame above a mark, pops the mark: Python 3 semantics)
                if stack.count > (marks.last ?? 0) { _ = try pop() } else { _ = try popMark() }
            case 0x31: // POP_MARK
                _ = try popMark()
            case 0x32: // DUP
                push(try top())

            // Scalars.
            case 0x4E: push(.none) // NONE
            case 0x88: push(.bool(true)) // NEWTRUE
            case 0x89: push(.bool(false)) // NEWFALSE
            case 0x4A: push(.int(Int(try r.i32()))) // BININT
            case 0x4B: push(.int(Int(try r.u8()))) // BININT1
            case 0x4D: push(.int(Int(try r.u16()))) // BININT2
            case 0x8A: // LONG1
                push(Self.long(try r.bytes(Int(try r.u8()))))
            case 0x8B: // LONG4
                let n = try r.i32()
                guard n >= 0 else { throw corrupt("negative LONG4 length") }
                push(Self.long(try r.bytes(Int(n))))
            case 0x47: // BINFLOAT (big endian)
                push(.float(Double(bitPattern: UInt64(bigEndian: try r.u64Raw()))))
            case 0x49: // INT (text; "00"/"01" are False/True)
                let line = try r.line()
                if line == "00" { push(.bool(false)) } else if line == "01" { push(.bool(true)) } else {
                    guard let v = Int(line) else { throw corrupt("INT operand '\(line.prefix(40))' is not a 64-bit integer") }
                    push(.int(v))
                }
            case 0x4C: // LONG (text, optional trailing L)
                let line = try r.line()
                guard let v = Int(line.hasSuffix("L") ? String(line.dropLast()) : line) else {
                    throw corrupt("LONG operand '\(line.prefix(40))' is not a 64-bit integer")
                }
                push(.int(v))
            case 0x46: // FLOAT (text)
                let line = try r.line()
                guard let v = Double(line) else { throw corrupt("FLOAT operand '\(line.prefix(40))' is not a number") }
                push(.float(v))

            // Strings and bytes.
            case 0x58: push(.string(try string(&r, Int(try r.u32())))) // BINUNICODE
            case 0x8C: push(.string(try string(&r, Int(try r.u8())))) // SHORT_BINUNICODE
            case 0x8D: push(.string(try string(&r, try r.length64()))) // BINUNICODE8
            case 0x54: // BINSTRING (Python 2 str; torch.load decodes it as UTF-8)
                let n = try r.i32()
                guard n >= 0 else { throw corrupt("negative BINSTRING length") }
                push(.string(try string(&r, Int(n))))
            case 0x55: push(.string(try string(&r, Int(try r.u8())))) // SHORT_BINSTRING
            case 0x42: push(.bytes(try r.bytes(Int(try r.u32())))) // BINBYTES
            case 0x43: push(.bytes(try r.bytes(Int(try r.u8())))) // SHORT_BINBYTES
            case 0x8E, 0x96: push(.bytes(try r.bytes(try r.length64()))) // BINBYTES8, BYTEARRAY8

            // Tuples.
            case 0x29: push(heap.tuple([])) // EMPTY_TUPLE
            case 0x74: push(try tuple(try popMark())) // TUPLE
            case 0x85: // TUPLE1
                let a = try pop()
                push(try tuple([a]))
            case 0x86: // TUPLE2
                let b = try pop(), a = try pop()
                push(try tuple([a, b]))
            case 0x87: // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                push(try tuple([a, b, c]))

            // Lists and sets.
            case 0x5D: push(heap.list()) // EMPTY_LIST
            case 0x6C: push(try list(try popMark())) // LIST
            case 0x61: // APPEND
                let v = try pop()
                try append([v])
            case 0x65: // APPENDS
                let items = try popMark()
                try append(items)
            case 0x8F: push(heap.list()) // EMPTY_SET
            case 0x90: // ADDITEMS
                let items = try popMark()
                try append(items)
            case 0x91: push(try list(try popMark())) // FROZENSET

            // Dicts.
            case 0x7D: push(heap.dict()) // EMPTY_DICT
            case 0x64: // DICT
                let items = try popMark()
                let d = heap.dict()
                try setItems(items, in: d)
                push(d)
            case 0x73: // SETITEM
                let v = try pop(), k = try pop()
                try setItems([k, v], in: try top())
            case 0x75: // SETITEMS
                let items = try popMark()
                try setItems(items, in: try top())

            // Memo.
            case 0x70: // PUT (text)
                let line = try r.line()
                guard let i = Int(line), i >= 0 else { throw corrupt("PUT index '\(line.prefix(40))' is not a number") }
                memo[i] = try top()
            case 0x71: memo[Int(try r.u8())] = try top() // BINPUT
            case 0x72: memo[Int(try r.u32())] = try top() // LONG_BINPUT
            case 0x94: memo[memo.count] = try top() // MEMOIZE
            case 0x67: // GET (text)
                let line = try r.line()
                guard let i = Int(line) else { throw corrupt("GET index '\(line.prefix(40))' is not a number") }
                push(try memoized(i))
            case 0x68: push(try memoized(Int(try r.u8()))) // BINGET
            case 0x6A: push(try memoized(Int(try r.u32()))) // LONG_BINGET

            // Globals and object construction: the restricted part.
            case 0x63: // GLOBAL "module\nname\n"
                let module = try r.line(), name = try r.line()
                push(.global(try resolveGlobal(module: module, name: name)))
            case 0x93: // STACK_GLOBAL
                let nameValue = try pop(), moduleValue = try pop()
                guard let module = moduleValue.stringValue, let name = nameValue.stringValue else {
                    throw corrupt("STACK_GLOBAL needs two strings, got \(moduleValue.typeName) and \(nameValue.typeName)")
                }
                push(.global(try resolveGlobal(module: module, name: name)))
            case 0x69: // INST "module\nname\n": class instantiated with the marked items
                let module = try r.line(), name = try r.line()
                let g = try resolveGlobal(module: module, name: name)
                let args = try popMark()
                push(try call(g, args))
            case 0x6F: // OBJ: class and arguments after the mark
                let items = try popMark()
                guard let first = items.first, case .global(let g) = first else {
                    throw corrupt("OBJ needs a class after the mark")
                }
                push(try call(g, Array(items.dropFirst())))
            case 0x52: // REDUCE
                let args = try pop(), callable = try pop()
                guard case .global(let g) = callable else { throw corrupt("REDUCE on a \(callable.typeName), not a global") }
                guard case .tuple(let t) = args else { throw corrupt("REDUCE arguments are a \(args.typeName), not a tuple") }
                push(try call(g, heap.tuples[t]))
            case 0x81: // NEWOBJ: cls.__new__(cls, *args)
                let args = try pop(), cls = try pop()
                guard case .global(let g) = cls else { throw corrupt("NEWOBJ on a \(cls.typeName), not a class") }
                guard case .tuple(let t) = args else { throw corrupt("NEWOBJ arguments are a \(args.typeName), not a tuple") }
                push(try call(g, heap.tuples[t]))
            case 0x92: // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
                let kwargs = try pop(), args = try pop(), cls = try pop()
                guard case .global(let g) = cls else { throw corrupt("NEWOBJ_EX on a \(cls.typeName), not a class") }
                guard case .tuple(let t) = args, case .dict(let k) = kwargs else { throw corrupt("NEWOBJ_EX needs a tuple and a dict") }
                guard heap.dicts[k].count == 0 else { throw error("\(g.qualifiedName) is built with keyword arguments, which this reader does not support") }
                push(try call(g, heap.tuples[t]))
            case 0x62: // BUILD: obj.__setstate__(state). The state of allowed objects is not needed.
                _ = try pop()
                _ = try top()

            // Persistent ids: storages.
            case 0x50: // PERSID (text)
                push(try persistentLoad(.string(try r.line())))
            case 0x51: // BINPERSID
                push(try persistentLoad(try pop()))

            case 0x82, 0x83, 0x84:
                throw error("uses the pickle extension registry (EXT opcodes), which this reader does not support")
            case 0x97, 0x98:
                throw error("uses out-of-band pickle buffers (protocol 5 NEXT_BUFFER/READONLY_BUFFER), which this reader does not support")
            case 0x53, 0x56:
                throw error("uses protocol 0 text strings (STRING/UNICODE opcodes), which this reader does not support",
                            hint: "save it again with torch.save (pickle protocol 2 or newer)")
            default:
                throw corrupt("unknown pickle opcode 0x\(String(op, radix: 16))")
            }
        }
    }

    // MARK: - Stack helpers

    private mutating func push(_ v: PickleValue) {
        stack.append(v)
    }

    private mutating func pop() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0), let v = stack.popLast() else { throw corrupt("pickle stack underflow") }
        return v
    }

    private func top() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0), let v = stack.last else { throw corrupt("pickle stack underflow") }
        return v
    }

    /// The items pushed since the last MARK (and the mark itself) are removed and returned.
    private mutating func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw corrupt("no MARK on the pickle stack") }
        try charge(stack.count - m)
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private func memoized(_ i: Int) throws -> PickleValue {
        guard let v = memo[i] else { throw corrupt("memo entry \(i) was never stored") }
        return v
    }

    private mutating func tuple(_ items: [PickleValue]) throws -> PickleValue {
        try charge(items.count)
        return heap.tuple(items)
    }

    private mutating func list(_ items: [PickleValue]) throws -> PickleValue {
        try charge(items.count)
        return heap.list(items)
    }

    private mutating func append(_ items: [PickleValue]) throws {
        let target = try top()
        guard case .list(let l) = target else { throw corrupt("APPEND to a \(target.typeName), not a list") }
        try charge(items.count)
        heap.lists[l].append(contentsOf: items)
    }

    private mutating func setItems(_ items: [PickleValue], in target: PickleValue) throws {
        guard case .dict(let d) = target else { throw corrupt("SETITEM on a \(target.typeName), not a dict") }
        guard items.count % 2 == 0 else { throw corrupt("SETITEMS with an odd number of items") }
        try charge(items.count)
        var i = 0
        while i + 1 < items.count {
            heap.dicts[d].set(items[i], items[i + 1])
            i += 2
        }
    }

    private func string(_ r: inout ByteReader, _ n: Int) throws -> String {
        let b = try r.slice(n)
        guard let s = String(validating: b, as: UTF8.self) else { throw corrupt("string is not valid UTF-8") }
        return s
    }

    private func resolveGlobal(module: String, name: String) throws -> TorchGlobal {
        try TorchGlobal.resolve(module: module, name: name, unpickler: self)
    }

    /// Python's decode_long: little-endian two's complement of any width.
    static func long(_ b: [UInt8]) -> PickleValue {
        if b.isEmpty { return .int(0) }
        if b.count <= 8 {
            var v: UInt64 = 0
            for (i, byte) in b.enumerated() { v |= UInt64(byte) << (8 * UInt64(i)) }
            if let last = b.last, last & 0x80 != 0, b.count < 8 { v |= ~0 << (8 * UInt64(b.count)) } // sign-extend
            return .int(Int(bitPattern: UInt(v)))
        }
        // Wider: fits in Int only if every extra byte is pure sign extension.
        let signByte: UInt8 = (b[7] & 0x80) != 0 ? 0xFF : 0x00
        if b[8...].allSatisfy({ $0 == signByte }) { return long(Array(b[0..<8])) }
        return .bigInt(b)
    }
}

/// Bounds-checked little-endian reads over a byte buffer. Every read checks the remaining
/// length first (with no arithmetic that can overflow), so malformed input throws `.truncated`.
struct ByteReader {
    enum Failure: Error { case truncated, lineTooLong }
    static let maxLine = 4096

    let bytes: UnsafeRawBufferPointer
    var position: Int

    var remaining: Int { bytes.count - position }

    mutating func u8() throws -> UInt8 {
        guard position >= 0, remaining >= 1 else { throw Failure.truncated }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func fixed<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let n = MemoryLayout<T>.size
        guard position >= 0, remaining >= n else { throw Failure.truncated }
        defer { position += n }
        return bytes.loadUnaligned(fromByteOffset: position, as: T.self)
    }

    mutating func u16() throws -> UInt16 { UInt16(littleEndian: try fixed(UInt16.self)) }
    mutating func u32() throws -> UInt32 { UInt32(littleEndian: try fixed(UInt32.self)) }
    mutating func i32() throws -> Int32 { Int32(littleEndian: try fixed(Int32.self)) }
    mutating func u64() throws -> UInt64 { UInt64(littleEndian: try fixed(UInt64.self)) }
    mutating func i64() throws -> Int64 { Int64(littleEndian: try fixed(Int64.self)) }
    /// Eight bytes as stored, for callers that decode the byte order themselves.
    mutating func u64Raw() throws -> UInt64 { try fixed(UInt64.self) }

    /// A 64-bit length operand, which must fit in what is left of the buffer.
    mutating func length64() throws -> Int {
        let n = try u64()
        guard n <= UInt64(remaining) else { throw Failure.truncated }
        return Int(n)
    }

    mutating func slice(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, position >= 0, n <= remaining else { throw Failure.truncated }
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)])
    }

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        Array(try slice(n))
    }

    /// A text operand up to "\n" (protocol 0 style), at most `maxLine` bytes.
    mutating func line() throws -> String {
        guard position >= 0 else { throw Failure.truncated }
        var end = position
        let limit = position + min(remaining, Self.maxLine)
        while end < limit, bytes[end] != 0x0A { end += 1 }
        guard end < limit else { throw remaining > Self.maxLine ? Failure.lineTooLong : Failure.truncated }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<end]), as: UTF8.self)
        position = end + 1
        return s
    }
}
