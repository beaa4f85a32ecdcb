import EmbedScopeCore
import EmbedScopeImages
/// A value built by the restricted unpickler (`Unpickler`).
///
/// Scalars are held inline. Tuples, lists (also sets), dicts, opaque objects, tensors and
/// storages live in a `PickleHeap` and are referred to by index: a hostile pickle can then build
/// cycles (a list appended to itself through the memo) or nest containers a million deep without
/// costing more than one array slot per container — nothing is released recursively, nothing
/// leaks through a reference cycle, and every walk over the values is explicit and bounded.
enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too wide for `Int` (LONG1 / LONG4): little-endian two's complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(Int)
    /// A list; `builtins.set` and `builtins.frozenset` also become lists (in pickle order).
    case list(Int)
    /// A dict in insertion order (`collections.OrderedDict` and Lightning's `AttributeDict` too).
    case dict(Int)
    /// A reference to one of the allowed globals (`TorchGlobal`); refused ones never become values.
    case global(TorchGlobal)
    /// A tensor view: storage, offset, shape, strides (`PickleHeap.tensors`).
    case tensor(Int)
    /// A storage named by a persistent id (`PickleHeap.storages`).
    case storage(Int)
    /// An instance of an allowed class that carries no tensor data (e.g. `builtins.slice`).
    case object(Int)

    /// The Python-ish type name, for error messages.
    var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(let g): return "global \(g.qualifiedName)"
        case .tensor: return "tensor"
        case .storage: return "storage"
        case .object: return "object"
        }
    }

    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var intValue: Int? {
        switch self {
        case .int(let v): return v
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
}

/// A dict in insertion order. Re-setting a key (str, int or bool, as in Python: `True == 1`)
/// replaces its value in place; other keys (tuples, floats, …) are only appended — nothing reads
/// them back by key.
///
/// String keys are compared by their exact UTF-8 bytes, as Python compares str keys (by code
/// point), not by Swift's `String ==`, which holds canonically equivalent strings equal: the NFC
/// and NFD spellings of "café" are two keys in Python and stay two keys here.
struct PickleDict: Sendable {
    private(set) var keys: [PickleValue] = []
    private(set) var values: [PickleValue] = []
    private var index: [Key: Int] = [:]

    private enum Key: Hashable { case string(ExactString), int(Int) }

    private static func key(_ v: PickleValue) -> Key? {
        switch v {
        case .string(let s): return .string(ExactString(s))
        case .int, .bool: return v.intValue.map(Key.int)
        default: return nil
        }
    }

    var count: Int { keys.count }

    mutating func set(_ key: PickleValue, _ value: PickleValue) {
        if let k = Self.key(key), let i = index[k] {
            values[i] = value
            return
        }
        if let k = Self.key(key) { index[k] = keys.count }
        keys.append(key)
        values.append(value)
    }

    subscript(string key: String) -> PickleValue? {
        index[.string(ExactString(key))].map { values[$0] }
    }
}

/// A string that equals another only when their UTF-8 bytes are the same (Python's str equality),
/// unlike `String`, whose `==` and hash follow Unicode canonical equivalence.
struct ExactString: Hashable, Sendable {
    let value: String

    init(_ value: String) { self.value = value }

    static func == (a: ExactString, b: ExactString) -> Bool {
        a.value.utf8.elementsEqual(b.value.utf8)
    }

    func hash(into hasher: inout Hasher) {
        var s = value
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// An instance of an allowed class with no meaning for tensors: its class and arguments.
struct OpaqueObject: Sendable {
    var type: TorchGlobal
    var arguments: [PickleValue]
}

/// Everything a sequence of pickles built, by index (see `PickleValue`).
struct PickleHeap: Sendable {
    var tuples: [[PickleValue]] = []
    var lists: [[PickleValue]] = []
    var dicts: [PickleDict] = []
    var objects: [OpaqueObject] = []
    var tensors: [TensorRef] = []
    var storages: [StorageRef] = []

    /// Objects built so far (every container, object, tensor and storage).
    var count: Int { tuples.count + lists.count + dicts.count + objects.count + tensors.count + storages.count }

    mutating func tuple(_ items: [PickleValue]) -> PickleValue {
        tuples.append(items)
        return .tuple(tuples.count - 1)
    }

    mutating func list(_ items: [PickleValue] = []) -> PickleValue {
        lists.append(items)
        return .list(lists.count - 1)
    }

    mutating func dict(_ d: PickleDict = PickleDict()) -> PickleValue {
        dicts.append(d)
        return .dict(dicts.count - 1)
    }

    mutating func object(_ o: OpaqueObject) -> PickleValue {
        objects.append(o)
        return .object(objects.count - 1)
    }

    /// The items of a tuple or list (what Python would accept as a sequence argument).
    func sequence(_ v: PickleValue) -> [PickleValue]? {
        switch v {
        case .tuple(let i): return tuples[i]
        case .list(let i): return lists[i]
        default: return nil
        }
    }
}
