import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages
@testable import EmbedScopeModels
@testable import EmbedScopeAnalysis
@testable import EmbedScopeReport

/// TorchCheckpoint against the fixtures of Scripts/make_checkpoint_fixtures.py: expected values are
/// the float32 bit patterns of PyTorch's own `tensor.float()`, so comparisons are exact (a format
/// reader either decodes the stored bits or it does not; there is no arithmetic to tolerate).
final class TorchCheckpointTests: XCTestCase {
    // MARK: - Fixtures

    static func url(_ name: String) throws -> URL {
        let root = try XCTUnwrap(Bundle.module.resourceURL, "test bundle has no resources")
        return root.appendingPathComponent("Fixtures/checkpoints/\(name)")
    }

    struct Expected: Decodable {
        let shape: [Int]
        let bits: [UInt32]
    }

    static func expected(_ group: String) throws -> [String: Expected] {
        let all = try JSONDecoder().decode([String: [String: Expected]].self, from: Data(contentsOf: url("expected.json")))
        return try XCTUnwrap(all[group], "expected.json has no group \(group)")
    }

    static func load(_ name: String, stripPrefix: String? = nil) throws -> StateDict {
        try TorchCheckpoint.load(contentsOf: url(name), stripPrefix: stripPrefix)
    }

    func assertMatches(_ observed: StateDict, _ expected: [String: Expected], _ context: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(observed.keys), Set(expected.keys), context, file: file, line: line)
        for (name, want) in expected.sorted(by: { $0.key < $1.key }) {
            guard let got = observed[name] else { continue }
            XCTAssertEqual(got.shape, want.shape, "\(context) \(name): shape", file: file, line: line)
            XCTAssertEqual(got.data.count, want.bits.count, "\(context) \(name): count", file: file, line: line)
            guard got.data.count == want.bits.count else { continue }
            if let i = got.data.indices.first(where: { got.data[$0].bitPattern != want.bits[$0] }) {
                XCTFail("\(context) \(name)[\(i)]: expected \(Float(bitPattern: want.bits[i])) (0x\(String(want.bits[i], radix: 16))), "
                        + "observed \(got.data[i]) (0x\(String(got.data[i].bitPattern, radix: 16))), tolerance 0 (bit-exact)",
                        file: file, line: line)
            }
        }
    }

    // MARK: - Both formats

    func testZipAndLegacyFormatsGiveTheSameExpectedStateDict() throws {
        let expected = try Self.expected("tiny")
        let zip = try Self.load("tiny_zip.pt"), legacy = try Self.load("tiny_legacy.pt")
        assertMatches(zip, expected, "zip")
        assertMatches(legacy, expected, "legacy")
        XCTAssertEqual(zip, legacy)
        XCTAssertEqual(zip["bn.num_batches_tracked"]?.shape, [])
        XCTAssertEqual(zip["bn.num_batches_tracked"]?.data, [3])
        XCTAssertEqual(zip["conv.weight"]?.shape, [8, 3, 3, 3])
    }

    func testNonContiguousTensorsAreResolvedThroughOffsetAndStrides() throws {
        let expected = try Self.expected("views")
        for name in ["views_zip.pt", "views_legacy.pt"] {
            let sd = try Self.load(name)
            assertMatches(sd, expected, name)
            XCTAssertEqual(sd["transposed"]?.shape, [6, 4], name)
            XCTAssertEqual(sd["expanded"]?.shape, [3, 4], name)
            XCTAssertEqual(sd["empty"]?.shape, [0, 6], name)
            // base[1:3, 1::2]: storage offset 7, strides (6, 2).
            XCTAssertEqual(sd["offset_slice"]?.data, [0.5, 1.5, 2.5, 3.5, 4.5, 5.5], name)
        }
    }

    func testHalfBFloatDoubleIntegerAndBoolTensorsBecomeFloat() throws {
        let expected = try Self.expected("dtypes")
        for name in ["dtypes_zip.pt", "dtypes_legacy.pt"] { // pickle protocols 5 and 4 (FRAME, MEMOIZE, STACK_GLOBAL)
            let sd = try Self.load(name)
            assertMatches(sd, expected, name)
            XCTAssertEqual(sd["scalar_i64"]?.shape, [], name)
            XCTAssertEqual(sd["scalar_i64"]?.data, [42], name)
            XCTAssertEqual(sd["bool"]?.data, [1, 0, 1], name)
        }
    }

    func testHalfToFloatIsExactForEveryHalf() {
        #if arch(x86_64) || arch(arm64)
        for bits in UInt16.min...UInt16.max {
            let reference = Float(Float16(bitPattern: bits))
            let observed = halfToFloat(bits)
            if reference.isNaN {
                XCTAssertTrue(observed.isNaN, "half 0x\(String(bits, radix: 16))")
            } else if observed.bitPattern != reference.bitPattern {
                XCTFail("half 0x\(String(bits, radix: 16)): expected \(reference), observed \(observed)")
                return
            }
        }
        #endif
    }

    // MARK: - Nesting and prefixes

    func testLightningCheckpointUsesItsNestedStateDictAndStripsModelPrefix() throws {
        let expected = try Self.expected("tiny")
        assertMatches(try Self.load("lightning.ckpt"), expected, "automatic prefix")
        assertMatches(try Self.load("lightning.ckpt", stripPrefix: "model."), expected, "explicit prefix")
        let kept = try Self.load("lightning.ckpt", stripPrefix: "")
        XCTAssertEqual(Set(kept.keys), Set(expected.keys.map { "model." + $0 }))
        // A prefix that not every key has is left alone.
        XCTAssertEqual(Set(try Self.load("lightning.ckpt", stripPrefix: "model.conv.").keys), Set(kept.keys))
        // The optimizer state's tensors (exp_avg, step) and the callbacks' are not part of the state dict.
        XCTAssertNil(kept["exp_avg"])
        XCTAssertEqual(kept.count, expected.count)
    }

    func testDataParallelPrefixIsStripped() throws {
        let expected = try Self.expected("tiny")
        assertMatches(try Self.load("dataparallel_legacy.pt"), expected, "automatic prefix")
        XCTAssertTrue(try Self.load("dataparallel_legacy.pt", stripPrefix: "").keys.allSatisfy { $0.hasPrefix("module.") })
    }

    func testAutomaticPrefixStripping() {
        XCTAssertEqual(TorchCheckpoint.strip(["model.module.a", "model.module.b"], prefix: nil), ["a", "b"])
        XCTAssertEqual(TorchCheckpoint.strip(["model.a", "b"], prefix: nil), ["model.a", "b"])
        XCTAssertEqual(TorchCheckpoint.strip(["model.", "model.b"], prefix: nil), ["model.", "model.b"])
        XCTAssertEqual(TorchCheckpoint.strip(["net.a", "net.b"], prefix: "net."), ["a", "b"])
        XCTAssertEqual(TorchCheckpoint.strip(["module.a"], prefix: ""), ["module.a"])
    }

    // MARK: - Refused globals

    func testCheckpointNamingOSSystemIsRefusedWithoutRunningIt() throws {
        for name in ["evil_legacy.pt", "evil_zip.pt"] {
            XCTAssertThrowsKind(.checkpoint, try Self.load(name), name)
            do {
                _ = try Self.load(name)
            } catch let e as EmbedScopeError {
                XCTAssertTrue(e.description.contains("`os.system`"), "\(name): \(e.description)")
                XCTAssertTrue(e.description.contains("never executes code"), "\(name): \(e.description)")
                XCTAssertTrue(e.description.contains("model.state_dict()"), "\(name): \(e.description)")
            }
        }
    }

    func testEveryGlobalOffTheAllowListIsRefused() {
        for (module, name) in [("builtins", "eval"), ("__builtin__", "exec"), ("numpy.core.multiarray", "_reconstruct"),
                               ("__main__", "Net"), ("posix", "system"), ("subprocess", "Popen"), ("torch", "load"),
                               ("torch._utils", "_rebuild_device_tensor_from_numpy"), ("collections", "defaultdict")] {
            var p = PickleBytes()
            p.global(module, name)
            p.stop()
            let shown = "`\(module == "__builtin__" ? "builtins" : module).\(name)`"
            assertRefused(p, naming: shown)
            // The same name through STACK_GLOBAL and through INST.
            var s = PickleBytes(protocol: 4)
            s.string(module)
            s.string(name)
            s.op(0x93)
            s.stop()
            assertRefused(s, naming: shown)
            var i = PickleBytes()
            i.op(0x28)
            i.raw(Array("i\(module)\n\(name)\n".utf8))
            i.stop()
            assertRefused(i, naming: shown)
        }
        // Tensors of dtypes this reader does not convert are refused by name.
        for (module, name) in [("torch._utils", "_rebuild_tensor_v3"), ("torch", "ComplexFloatStorage")] {
            var p = PickleBytes()
            p.global(module, name)
            p.stop()
            assertRefused(p, naming: "`\(module).\(name)`")
        }
        // Re-typing a tensor as anything but Tensor/Parameter is refused too.
        var p = PickleBytes()
        p.global("torch._tensor", "_rebuild_from_type_v2")
        p.op(0x28)
        p.global("torch._utils", "_rebuild_parameter")
        p.global("torch", "FloatStorage")
        p.op(0x29); p.op(0x4E); p.op(0x74); p.op(0x52) // f(_rebuild_parameter, FloatStorage, (), None)
        p.stop()
        assertRefused(p, naming: "torch.FloatStorage")
    }

    /// Metadata values that `torch.load(weights_only=True)` accepts (a device, a Size, a complex
    /// number, a bytearray, a Counter in the hyper-parameters) are read as inert values; a
    /// checkpoint holding one was refused as "not on the list of allowed globals" (red team).
    func testMetadataValuesTorchLoadAcceptsAreRead() throws {
        var p = PickleBytes()
        p.op(0x7D) // EMPTY_DICT
        p.string("device"); p.global("torch", "device"); p.op(0x28); p.string("cuda"); p.int(0); p.op(0x74); p.op(0x52); p.op(0x73)
        p.string("size"); p.global("torch", "Size"); p.op(0x28); p.intTuple([3, 4]); p.op(0x74); p.op(0x52); p.op(0x73)
        p.string("complex"); p.global("builtins", "complex"); p.op(0x28)
        p.op(0x47); p.raw([0x3F, 0xF0, 0, 0, 0, 0, 0, 0]); p.op(0x47); p.raw([0x40, 0, 0, 0, 0, 0, 0, 0]); p.op(0x74); p.op(0x52); p.op(0x73)
        p.string("bytearray"); p.global("__builtin__", "bytearray"); p.op(0x28); p.op(0x43); p.raw([2, 1, 2]); p.op(0x74); p.op(0x52); p.op(0x73)
        p.string("counter"); p.global("collections", "Counter"); p.op(0x28); p.op(0x7D); p.string("a"); p.int(1); p.op(0x73); p.op(0x74); p.op(0x52); p.op(0x73)
        p.stop()
        var u = Unpickler(path: "test.pkl")
        let (value, _) = try p.bytes.withUnsafeBytes { try u.load($0, label: "test") }
        guard case .dict(let top) = value else { return XCTFail(value.typeName) }
        let d = u.heap.dicts[top]
        for key in ["device", "size", "complex", "bytearray"] {
            guard case .object? = d[string: key] else { return XCTFail("\(key): \(d[string: key]?.typeName ?? "missing")") }
        }
        guard case .dict(let counter)? = d[string: "counter"] else { return XCTFail("counter") }
        XCTAssertEqual(u.heap.dicts[counter][string: "a"]?.intValue, 1)
        // Called with a number of arguments they never take: refused as damaged, not trapped.
        var bad = PickleBytes()
        bad.global("torch", "device"); bad.op(0x28); bad.op(0x74); bad.op(0x52); bad.stop()
        var v = Unpickler(path: "test.pkl")
        XCTAssertThrowsError(try bad.bytes.withUnsafeBytes { try v.load($0, label: "test") })
    }

    private func assertRefused(_ p: PickleBytes, naming shown: String, line: UInt = #line) {
        var u = Unpickler(path: "test.pkl")
        do {
            _ = try p.bytes.withUnsafeBytes { try u.load($0, label: "test") }
            XCTFail("\(shown) was accepted", line: line)
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .checkpoint, line: line)
            XCTAssertTrue(e.description.contains(shown), "\(shown): \(e.description)", line: line)
        } catch {
            XCTFail("\(error)", line: line)
        }
    }

    // MARK: - The unpickler

    func testUnpicklerDecodesProtocol4And5Opcodes() throws {
        var p = PickleBytes(protocol: 5)
        p.op(0x95); p.u64(0) // FRAME (length is only a hint)
        p.op(0x28) // MARK
        p.op(0x8D); p.u64(3); p.raw(Array("héy".utf8.prefix(3))) // BINUNICODE8 ("hé")
        p.op(0x94) // MEMOIZE
        p.op(0x8E); p.u64(2); p.raw([1, 2]) // BINBYTES8
        p.op(0x43); p.raw([1, 9]) // SHORT_BINBYTES
        p.op(0x8A); p.raw([2, 0x00, 0xFF]) // LONG1 -256
        p.op(0x8A); p.raw([9, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x00]) // LONG1 2^63: too wide for Int
        p.op(0x47); p.raw([0x3F, 0xF8, 0, 0, 0, 0, 0, 0]) // BINFLOAT 1.5
        p.op(0x8F); p.op(0x28); p.op(0x4B); p.raw([7]); p.op(0x90) // EMPTY_SET, ADDITEMS {7}
        p.op(0x28); p.op(0x4B); p.raw([8]); p.op(0x91) // FROZENSET {8}
        p.op(0x68); p.raw([0]) // BINGET 0
        p.op(0x32) // DUP
        p.op(0x30) // POP
        p.op(0x88) // NEWTRUE
        p.op(0x74) // TUPLE
        p.stop()
        var u = Unpickler(path: "test.pkl")
        let (value, end) = try p.bytes.withUnsafeBytes { try u.load($0, label: "test") }
        XCTAssertEqual(end, p.bytes.count)
        guard case .tuple(let t) = value else { return XCTFail("\(value.typeName)") }
        let items = u.heap.tuples[t]
        XCTAssertEqual(items.count, 10)
        XCTAssertEqual(items[0].stringValue, "hé")
        guard case .bytes(let b8) = items[1], case .bytes(let sb) = items[2] else { return XCTFail("bytes") }
        XCTAssertEqual(b8, [1, 2])
        XCTAssertEqual(sb, [9])
        XCTAssertEqual(items[3].intValue, -256)
        guard case .bigInt(let big) = items[4] else { return XCTFail("\(items[4].typeName)") }
        XCTAssertEqual(big.count, 9)
        guard case .float(let f) = items[5] else { return XCTFail("float") }
        XCTAssertEqual(f, 1.5)
        XCTAssertEqual(u.heap.sequence(items[6])?.compactMap(\.intValue), [7])
        XCTAssertEqual(u.heap.sequence(items[7])?.compactMap(\.intValue), [8])
        XCTAssertEqual(items[8].stringValue, "hé")
        XCTAssertEqual(items[9].intValue, 1)
    }

    func testLightningValuesAroundTheTensorsAreDecoded() throws {
        let data = try Data(contentsOf: Self.url("lightning.ckpt"))
        let (root, heap) = try Self.unpickleZip(data)
        guard case .dict(let top) = root else { return XCTFail(root.typeName) }
        let d = heap.dicts[top]
        XCTAssertEqual(d[string: "epoch"]?.intValue, 3)
        XCTAssertEqual(d[string: "pytorch-lightning_version"]?.stringValue, "2.4.0")
        guard case .dict(let hp)? = d[string: "hyper_parameters"] else { return XCTFail("AttributeDict is not a dict") }
        XCTAssertEqual(heap.dicts[hp][string: "name"]?.stringValue, "tiny")
        guard case .global(let dtype)? = heap.dicts[hp][string: "dtype"] else { return XCTFail("dtype") }
        XCTAssertEqual(dtype.qualifiedName, "torch.float32")
        guard case .dict(let misc)? = d[string: "misc"] else { return XCTFail("misc") }
        let m = heap.dicts[misc]
        XCTAssertEqual(Set(heap.sequence(m[string: "tags"] ?? .none)?.compactMap(\.stringValue) ?? []), ["a", "b"])
        guard case .bytes(let blob)? = m[string: "blob"] else { return XCTFail("blob") }
        XCTAssertEqual(blob, [0, 1, 0xFE, 0xFF])
        XCTAssertTrue(m[string: "torch_version"]?.stringValue?.hasPrefix("2.") ?? false)
        guard case .bigInt? = m[string: "big"], case .object? = m[string: "window"] else { return XCTFail("big, window") }
    }

    /// Unpickles data.pkl of a zip checkpoint.
    static func unpickleZip(_ data: Data) throws -> (PickleValue, PickleHeap) {
        try data.withUnsafeBytes { raw in
            let decoded = try TorchCheckpoint.readZip(raw, path: "test")
            return (decoded.root, decoded.unpickler.heap)
        }
    }

    func testHostileStructuresDoNotCrash() throws {
        // A list appended to itself through the memo, then used as the checkpoint.
        var cyclic = PickleBytes()
        cyclic.op(0x5D); cyclic.op(0x71); cyclic.raw([0]) // EMPTY_LIST, BINPUT 0
        cyclic.op(0x68); cyclic.raw([0]); cyclic.op(0x61) // BINGET 0, APPEND
        cyclic.stop()
        var u = Unpickler(path: "test")
        let (value, _) = try cyclic.bytes.withUnsafeBytes { try u.load($0, label: "test") }
        XCTAssertThrowsKind(.checkpoint, try TorchCheckpoint.stateDictEntries(value, heap: u.heap, path: "test"))
        // 200 000 nested tuples: no recursion anywhere (building, walking, releasing).
        var deep = PickleBytes()
        deep.op(0x4E)
        for _ in 0..<200_000 { deep.op(0x85) }
        deep.stop()
        var v = Unpickler(path: "test")
        _ = try deep.bytes.withUnsafeBytes { try v.load($0, label: "test") }
        // Nested re-typing: _rebuild_from_type_v2(f, Tensor, (f, Tensor, (…), None), None), 50 deep, is bounded.
        var retype = PickleBytes()
        retype.global("torch._tensor", "_rebuild_from_type_v2")
        retype.op(0x71); retype.raw([0]); retype.op(0x30) // BINPUT 0, POP
        retype.op(0x29) // innermost arguments: ()
        for _ in 0..<50 {
            retype.op(0x71); retype.raw([1]); retype.op(0x30) // BINPUT 1, POP
            retype.op(0x28); retype.op(0x68); retype.raw([0]); retype.global("torch", "Tensor")
            retype.op(0x68); retype.raw([1]); retype.op(0x4E); retype.op(0x74) // (f, Tensor, previous, None)
        }
        retype.op(0x71); retype.raw([1]); retype.op(0x30)
        retype.op(0x68); retype.raw([0]); retype.op(0x68); retype.raw([1]); retype.op(0x52) // f(*args)
        retype.stop()
        var w = Unpickler(path: "test")
        do {
            _ = try retype.bytes.withUnsafeBytes { try w.load($0, label: "test") }
            XCTFail("nested re-typing was accepted")
        } catch let e as EmbedScopeError {
            XCTAssertTrue(e.description.contains("nested"), e.description)
        }
    }

    // MARK: - Memory budget

    /// `[None] * n` as memo 0 (MARK, n × NONE, APPENDS), `(list,)` as memo 1; what follows builds on them.
    private func bigListPickle(_ n: Int) -> PickleBytes {
        var p = PickleBytes()
        p.op(0x5D); p.op(0x71); p.raw([0]) // EMPTY_LIST, BINPUT 0
        p.op(0x28); p.raw([UInt8](repeating: 0x4E, count: n)); p.op(0x65) // MARK, NONE × n, APPENDS
        p.op(0x85); p.op(0x71); p.raw([1]); p.op(0x30) // TUPLE1, BINPUT 1, POP
        return p
    }

    private func assertOverBudget(_ p: PickleBytes, _ what: String, line: UInt = #line) {
        var u = Unpickler(path: "test.pkl")
        do {
            _ = try p.bytes.withUnsafeBytes { try u.load($0, label: "data.pkl") }
            XCTFail("\(what): loaded, building \(u.valuesBuilt) values from \(p.bytes.count) bytes", line: line)
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .checkpoint, what, line: line)
            XCTAssertTrue(e.description.contains("values for its first"), "\(what): \(e.description)", line: line)
            XCTAssertTrue(e.description.contains("not a checkpoint torch.save writes"), "\(what): \(e.description)", line: line)
        } catch {
            XCTFail("\(what): \(error)", line: line)
        }
    }

    /// A few bytes that copy a big container, repeated: without a budget, 100 000 items copied 20
    /// times for 8 bytes each (the 2.4 GB sweep repro, scaled down), and the copies never freed.
    func testPicklesThatRecopyContainersAreRefusedBeforeExhaustingMemory() {
        // builtins.set(list) shares the list's items, APPEND to it copies them all.
        var set = bigListPickle(100_000)
        set.global("builtins", "set"); set.op(0x71); set.raw([2]); set.op(0x30)
        for _ in 0..<20 { set.op(0x68); set.raw([2]); set.op(0x68); set.raw([1]); set.op(0x52); set.op(0x4E); set.op(0x61); set.op(0x30) }
        set.op(0x4E); set.stop()
        assertOverBudget(set, "set(list) repeated")
        // OrderedDict(list of pairs): the list holds one pair 100 000 times.
        var pairs = PickleBytes()
        pairs.op(0x4E); pairs.op(0x4E); pairs.op(0x86); pairs.op(0x71); pairs.raw([3]); pairs.op(0x30) // (None, None) as memo 3
        pairs.op(0x5D); pairs.op(0x28)
        for _ in 0..<100_000 { pairs.op(0x68); pairs.raw([3]) }
        pairs.op(0x65); pairs.op(0x85); pairs.op(0x71); pairs.raw([1]); pairs.op(0x30)
        pairs.global("collections", "OrderedDict"); pairs.op(0x71); pairs.raw([2]); pairs.op(0x30)
        for _ in 0..<20 { pairs.op(0x68); pairs.raw([2]); pairs.op(0x68); pairs.raw([1]); pairs.op(0x52); pairs.op(0x30) }
        pairs.op(0x4E); pairs.stop()
        assertOverBudget(pairs, "OrderedDict(pairs) repeated")
        // _codecs.encode(a 1 MB string, 'latin1'): a new megabyte for 5 bytes, appended to a list.
        var encode = PickleBytes()
        encode.string(String(repeating: "x", count: 1 << 20)); encode.string("latin1"); encode.op(0x86)
        encode.op(0x71); encode.raw([1]); encode.op(0x30)
        encode.global("_codecs", "encode"); encode.op(0x71); encode.raw([2]); encode.op(0x30)
        encode.op(0x5D)
        for _ in 0..<40 { encode.op(0x68); encode.raw([2]); encode.op(0x68); encode.raw([1]); encode.op(0x52); encode.op(0x61) }
        encode.stop()
        assertOverBudget(encode, "_codecs.encode repeated")
        // The budget spans the five pickles of a legacy file: one such pickle fits in the
        // constant part of the budget, the next ones may not start from zero again.
        var one = bigListPickle(100_000)
        one.global("builtins", "set"); one.op(0x71); one.raw([2]); one.op(0x30)
        for _ in 0..<8 { one.op(0x68); one.raw([2]); one.op(0x68); one.raw([1]); one.op(0x52); one.op(0x30) }
        one.op(0x4E); one.stop()
        var fresh = Unpickler(path: "test.pkl")
        XCTAssertNoThrow(try one.bytes.withUnsafeBytes { try fresh.load($0, label: "test") })
        var u = Unpickler(path: "test.pkl")
        XCTAssertThrowsKind(.checkpoint, try (0..<5).map { _ in try one.bytes.withUnsafeBytes { try u.load($0, label: "test").end } },
                            "budget carried across loads")
    }

    /// Objects cost 50–350 bytes each here, and empty containers are not copies: 20 MB of
    /// EMPTY_LIST reached 1 GB, 12 MB of nested dicts 1.05 GB (held-out sweep). At most
    /// `Unpickler.maxObjects` objects, stack and memo entries at once.
    func testPicklesOfManyEmptyContainersAreRefusedAtTheObjectCap() {
        for (op, what) in [(UInt8(0x5D), "EMPTY_LIST"), (0x7D, "EMPTY_DICT")] {
            var p = PickleBytes()
            p.raw([UInt8](repeating: op, count: Unpickler.maxObjects + 10))
            p.stop()
            var u = Unpickler(path: "test.pkl")
            XCTAssertThrowsError(try p.bytes.withUnsafeBytes { try u.load($0, label: "data.pkl") }, what) { error in
                XCTAssertEqual((error as? EmbedScopeError)?.kind, .checkpoint, what)
                XCTAssertTrue("\(error)".contains("more than \(Unpickler.maxObjects) objects"), "\(error)")
                XCTAssertTrue("\(error)".contains("of data.pkl"), "\(error)")
            }
        }
        // MEMOIZE of one value, again and again.
        var memo = PickleBytes(protocol: 4)
        memo.op(0x4E)
        memo.raw([UInt8](repeating: 0x94, count: Unpickler.maxObjects + 10))
        memo.stop()
        var u = Unpickler(path: "test.pkl")
        XCTAssertThrowsKind(.checkpoint, try memo.bytes.withUnsafeBytes { try u.load($0, label: "data.pkl") })
    }

    /// What torch.save writes stays far inside the budget: a 2M-item list in APPENDS batches of
    /// 1000 (as pickle writes them) and a set made from it load; the fixtures (Lightning with
    /// optimizer state and hyper-parameters, both formats) build well under one value per byte
    /// (a ResNet-50 state dict and a Lightning ResNet-50 checkpoint with Adam state, saved by
    /// PyTorch 2.9 in both formats, build 0.24–0.51 values per pickle byte).
    func testLegitimatePicklesStayWithinTheBudget() throws {
        var p = PickleBytes()
        p.op(0x5D)
        for _ in 0..<2000 {
            p.op(0x28)
            for _ in 0..<1000 { p.op(0x4B); p.raw([7]) }
            p.op(0x65)
        }
        p.op(0x71); p.raw([0])
        p.global("builtins", "set"); p.op(0x68); p.raw([0]); p.op(0x85); p.op(0x52)
        p.op(0x86); p.stop()
        var u = Unpickler(path: "test.pkl")
        let (value, _) = try p.bytes.withUnsafeBytes { try u.load($0, label: "test") }
        guard case .tuple(let t) = value else { return XCTFail(value.typeName) }
        XCTAssertEqual(u.heap.sequence(u.heap.tuples[t][1])?.count, 2_000_000)
        XCTAssertLessThanOrEqual(u.valuesBuilt, 3 * p.bytes.count)

        for name in ["lightning.ckpt", "tiny_zip.pt", "dtypes_zip.pt", "views_zip.pt"] {
            let data = try Data(contentsOf: Self.url(name))
            try data.withUnsafeBytes { raw in
                let decoded = try TorchCheckpoint.readZip(raw, path: name)
                let zip = try ZipDirectory(raw)
                let pickle = try XCTUnwrap(zip.entries.first { $0.name.hasSuffix("/data.pkl") })
                XCTAssertLessThanOrEqual(decoded.unpickler.valuesBuilt, try zip.dataRange(of: pickle, in: raw).count, name)
            }
        }
        for name in ["tiny_legacy.pt", "dtypes_legacy.pt", "views_legacy.pt", "dataparallel_legacy.pt"] {
            let data = try Data(contentsOf: Self.url(name))
            try data.withUnsafeBytes { raw in
                XCTAssertLessThanOrEqual(try TorchCheckpoint.readLegacy(raw, path: name).unpickler.valuesBuilt, raw.count, name)
            }
        }
    }

    // MARK: - Tensor names

    /// A zip checkpoint of one-element float tensors named `names` (all views of storage "0").
    static func namedTensorsFile(_ names: [String]) -> Data {
        var p = PickleBytes()
        p.op(0x7D); p.op(0x28)
        for name in names {
            p.string(name)
            p.global("torch._utils", "_rebuild_tensor_v2")
            p.op(0x28)
            p.op(0x28); p.string("storage"); p.global("torch", "FloatStorage"); p.string("0"); p.string("cpu"); p.int(1); p.op(0x74); p.op(0x51)
            p.int(0); p.intTuple([1]); p.intTuple([1])
            p.op(0x89); p.global("collections", "OrderedDict"); p.op(0x29); p.op(0x52)
            p.op(0x74); p.op(0x52)
        }
        p.op(0x75); p.stop()
        return zipFile([("archive/data.pkl", p.bytes), ("archive/data/0", [0, 0, 0x80, 0x3F])])
    }

    /// Python keeps 'café' (NFC) and 'cafe\u{301}' (NFD) as two keys; Swift strings compare them
    /// equal. The pickle's dicts keep them apart; the state dict, keyed by String, refuses them
    /// rather than dropping one tensor.
    func testCanonicallyEquivalentTensorNamesAreNotMerged() throws {
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        XCTAssertEqual(nfc, nfd, "Swift's String == is canonical equivalence")
        let file = Self.namedTensorsFile([nfc, nfd])
        let (root, heap) = try Self.unpickleZip(file)
        guard case .dict(let d) = root else { return XCTFail(root.typeName) }
        XCTAssertEqual(heap.dicts[d].count, 2, "two keys, as in Python")
        XCTAssertEqual(heap.dicts[d].keys.compactMap(\.stringValue).map { Array($0.utf8) }, [Array(nfc.utf8), Array(nfd.utf8)])
        do {
            let sd = try TorchCheckpoint.load(data: file, path: "nfc.pt")
            XCTFail("loaded \(sd.count) tensor(s) from two")
        } catch let e as EmbedScopeError {
            XCTAssertEqual(e.kind, .checkpoint)
            XCTAssertTrue(e.description.contains("'caf\\u{E9}' and 'cafe\\u{301}'"), e.description)
            XCTAssertTrue(e.description.contains("normalization"), e.description)
        }
        // Exactly equal keys still replace each other, as in Python; other names load as before.
        XCTAssertEqual(try TorchCheckpoint.load(data: Self.namedTensorsFile(["a", "a", nfc]), path: "x.pt").count, 2)
    }

    func testNamesFromTheFileAreEscapedWhenPrinted() throws {
        XCTAssertEqual("conv1.weight".escapedForDisplay, "conv1.weight")
        XCTAssertEqual("caf\u{E9}".escapedForDisplay, "caf\u{E9}")
        XCTAssertEqual("a\u{1B}[2Jb\nc\r\u{7F}\u{9B}\u{202E}\\d".escapedForDisplay, #"a\u{1B}[2Jb\u{A}c\u{D}\u{7F}\u{9B}\u{202E}\\d"#)
        XCTAssertEqual("cafe\u{301}".escapedToASCII, #"cafe\u{301}"#)

        // build's "unexpected key" error.
        let evil = "fc.weight\u{1B}]0;owned\u{7}\nerror: forged line"
        let reader = StateDictReader([evil: Tensor(shape: [1], data: [1])], model: "resnet18")
        do {
            try reader.requireExactKeys()
            XCTFail("unexpected key accepted")
        } catch let e as EmbedScopeError {
            XCTAssertFalse(e.message.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{7}" || $0 == "\n" }, e.message)
            XCTAssertTrue(e.description.contains(#"fc.weight\u{1B}]0;owned\u{7}\u{A}error: forged line"#), e.description)
        }

        // `embedscope checkpoint` lists the names escaped (JSON escapes them its own way).
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("evil.pt")
        try Self.namedTensorsFile(["ok", evil]).write(to: path)
        let r = try CLI.run(["checkpoint", path.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{7}" }, r.stdout)
        XCTAssertEqual(r.stdout.split(separator: "\n").count, 3, r.stdout) // two tensors and the summary
        XCTAssertTrue(r.stdout.contains(#"fc.weight\u{1B}]0;owned\u{7}\u{A}error: forged line  [1]"#), r.stdout)
    }

    /// `checkpoint --export DIR` refuses names that collide as files before creating DIR.
    func testRefusedExportLeavesNoFolder() throws {
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("clash.pt")
        try Self.namedTensorsFile(["a/b", "a_b"]).write(to: path)
        let out = dir.appendingPathComponent("export")
        let r = try CLI.run(["checkpoint", path.path, "--export", out.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("nothing was written"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "a refused export left \(out.path) behind")
        // Accepted names: the folder is created and written.
        try Self.namedTensorsFile(["a/b", "c"]).write(to: path)
        let ok = try CLI.run(["checkpoint", path.path, "--export", out.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(), ["a_b.npy", "c.npy"])
    }

    // MARK: - Malformed tensors and storages (hand-built legacy files)

    func testHandBuiltLegacyFileLoads() throws {
        let file = legacyFile(tensors: [("w", offset: 0, size: [2, 3], stride: [1, 2])], numel: 6, data: (0..<6).map(Float.init))
        let sd = try TorchCheckpoint.load(data: file, path: "hand.pt")
        XCTAssertEqual(sd["w"], Tensor(shape: [2, 3], data: [0, 2, 4, 1, 3, 5]))
    }

    func testIndicesOutsideTheStorageAreRefused() {
        let cases: [(String, Int, [Int], [Int])] = [
            ("stride past the end", 0, [2, 3], [4, 1]),
            ("offset past the end", 4, [2, 2], [2, 1]),
            ("sizes and strides disagree", 0, [2, 3], [3]),
            ("negative stride", 5, [6], [-1]),
            ("stride that overflows", 0, [3, 2], [Int.max, 1]),
        ]
        for (what, offset, size, stride) in cases {
            let file = legacyFile(tensors: [("w", offset: offset, size: size, stride: stride)], numel: 6, data: (0..<6).map(Float.init))
            XCTAssertThrowsKind(.checkpoint, try TorchCheckpoint.load(data: file, path: "hand.pt"), what)
        }
    }

    func testAbsurdSizesAreRefusedBeforeAllocating() {
        // A storage claiming 2^60 elements.
        let huge = legacyFile(tensors: [("w", offset: 0, size: [6], stride: [1])], numel: 1 << 60, data: (0..<6).map(Float.init))
        XCTAssertThrowsKind(.checkpoint, try TorchCheckpoint.load(data: huge, path: "hand.pt"), "huge storage")
        // A 2^20 × 2^20 expand of one element: 2^40 values.
        let expanded = legacyFile(tensors: [("w", offset: 0, size: [1 << 20, 1 << 20], stride: [0, 0])], numel: 1, data: [1])
        XCTAssertThrowsKind(.checkpoint, try TorchCheckpoint.load(data: expanded, path: "hand.pt"), "huge expand")
        // A small tensor, then an expand of Int.max elements: the running total must not overflow.
        let sum = legacyFile(tensors: [("a", offset: 0, size: [6], stride: [1]), ("b", offset: 0, size: [Int.max], stride: [0])],
                             numel: 6, data: (0..<6).map(Float.init))
        XCTAssertThrowsKind(.checkpoint, try TorchCheckpoint.load(data: sum, path: "hand.pt"), "Int.max expand")
        // A modest expand is fine.
        let small = legacyFile(tensors: [("w", offset: 0, size: [3, 2], stride: [0, 1])], numel: 2, data: [1, 2])
        XCTAssertEqual(try? TorchCheckpoint.load(data: small, path: "hand.pt")["w"], Tensor(shape: [3, 2], data: [1, 2, 1, 2, 1, 2]))
        // The element count in the data section disagrees with the persistent id.
        var wrongCount = legacyFile(tensors: [("w", offset: 0, size: [6], stride: [1])], numel: 6, data: (0..<6).map(Float.init))
        wrongCount[wrongCount.count - 6 * 4 - 8] = 7
        XCTAssertThrowsKind(.checkpoint, try TorchCheckpoint.load(data: wrongCount, path: "hand.pt"), "count mismatch")
    }

    // MARK: - Zip archives rebuilt by hand

    /// The entries of a zip fixture, by name relative to its folder.
    static func zipEntries(_ name: String) throws -> [(String, [UInt8])] {
        let data = try Data(contentsOf: url(name))
        return try data.withUnsafeBytes { raw in
            let dir = try ZipDirectory(raw)
            return try dir.entries.map { entry in
                let relative = String(entry.name.drop(while: { $0 != "/" }).dropFirst())
                return (relative, Array(raw[try dir.dataRange(of: entry, in: raw)]))
            }
        }
    }

    func testZipArchivesAreFoundUnderAnyFolderNameAndWithZIP64Fields() throws {
        let expected = try Self.expected("tiny")
        let entries = try Self.zipEntries("tiny_zip.pt")
        for zip64 in [false, true] {
            let file = zipFile(entries.map { ("some_other_name/" + $0.0, $0.1) }, zip64: zip64)
            assertMatches(try TorchCheckpoint.load(data: file, path: "rebuilt.pt"), expected, "zip64 \(zip64)")
        }
    }

    func testDamagedZipArchivesAreRefusedWithAReason() throws {
        let entries = try Self.zipEntries("tiny_zip.pt").map { ("a/" + $0.0, $0.1) }
        func refused(_ file: Data, _ fragment: String, _ what: String, line: UInt = #line) {
            do {
                _ = try TorchCheckpoint.load(data: file, path: "damaged.pt")
                XCTFail("\(what): loaded", line: line)
            } catch let e as EmbedScopeError {
                XCTAssertEqual(e.kind, .checkpoint, what, line: line)
                XCTAssertTrue(e.description.contains(fragment), "\(what): \(e.description)", line: line)
            } catch {
                XCTFail("\(what): \(error)", line: line)
            }
        }
        refused(zipFile(entries.map { ($0.0, $0.0 == "a/byteorder" ? Array("big".utf8) : $0.1) }), "big-endian", "big endian")
        refused(zipFile(entries.filter { $0.0 != "a/data/3" }), "a/data/3", "missing storage")
        refused(zipFile(entries.map { ($0.0, $0.0 == "a/data/3" ? Array($0.1.prefix(4)) : $0.1) }), "needs", "short storage")
        refused(zipFile(entries.filter { $0.0 != "a/data.pkl" }), "data.pkl", "no data.pkl")
        refused(zipFile(entries, method: 8), "re-zipped with compression", "deflated entries")
        do { _ = try TorchCheckpoint.load(data: zipFile(entries, method: 8), path: "rezipped.pt") } catch let e as EmbedScopeError {
            XCTAssertFalse(e.description.contains("corrupt"), "a re-zipped archive is not called corrupt: \(e.description)")
        }
        // A name twice (torch.load took the second copy of a storage, we took the first: exit 0
        // with other weights): ambiguous, refused — for a storage and for data.pkl alike.
        for name in ["a/data/3", "a/data.pkl"] {
            let twice = entries.flatMap { $0.0 == name ? [$0, ($0.0, $0.1.map { $0 ^ 0x5A })] : [$0] }
            refused(zipFile(twice), "more than once", "\(name) twice")
        }
        var flipped = zipFile(entries)
        flipped[200] ^= 0x10 // inside data.pkl, which starts at byte 30 + name
        refused(flipped, "CRC-32", "damaged data")
    }

    // MARK: - Damaged files

    func testTruncatedAndForeignFilesGiveTypedErrors() throws {
        XCTAssertThrowsKind(.checkpoint, try Self.load("tiny_zip_truncated.pt"))
        XCTAssertThrowsKind(.checkpoint, try Self.load("tiny_legacy_truncated.pt"))
        XCTAssertThrowsKind(.checkpoint, try TorchCheckpoint.load(data: Data(), path: "empty.pt"))
        XCTAssertThrowsKind(.checkpoint, try TorchCheckpoint.load(data: Data("hello, world".utf8), path: "text.pt"))
        XCTAssertThrowsKind(.checkpoint, try TorchCheckpoint.load(data: Data([0x80, 0x02, 0x4B, 0x05, 0x2E]), path: "int.pkl"))
        // Missing: `notFound`, as for every other input file (`MappedInput`; `io` before 2026-12-06).
        XCTAssertThrowsKind(.notFound, try TorchCheckpoint.load(contentsOf: URL(fileURLWithPath: "/nonexistent/model.pth")))
        // A folder in its place: refused before anything is mapped.
        XCTAssertThrowsError(try TorchCheckpoint.load(contentsOf: URL(fileURLWithPath: "/tmp")))
        // The image fixtures are not checkpoints either.
        let png = try Data(contentsOf: Self.url("../images/rgb8.png"))
        XCTAssertThrowsKind(.checkpoint, try TorchCheckpoint.load(data: png, path: "rgb8.png"))
    }

    /// Seeded: cuts, bit flips and overwritten bytes at many positions of every kind of fixture
    /// must give a state dict or an EmbedScopeError, never a crash or another error.
    func testDamagedFixturesNeverCrash() throws {
        let seed: UInt64 = 0xC4EC_4901
        var g = SeededGenerator(seed: seed)
        var outcomes = (loaded: 0, refused: 0)
        for name in ["tiny_zip.pt", "tiny_legacy.pt", "lightning.ckpt", "views_legacy.pt", "dtypes_zip.pt", "dtypes_legacy.pt"] {
            let original = try Data(contentsOf: Self.url(name))
            for trial in 0..<400 {
                var data = original
                switch trial % 4 {
                case 0:
                    data = data.prefix(Int.random(in: 0..<data.count, using: &g))
                case 1:
                    let i = Int.random(in: 0..<data.count, using: &g)
                    data[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &g)
                case 2:
                    let i = Int.random(in: 0..<data.count, using: &g)
                    for j in i..<min(i + 4, data.count) { data[j] = [0xFF, 0x00, 0x7F, 0x80][Int.random(in: 0..<4, using: &g)] }
                default:
                    for _ in 0..<8 {
                        data[Int.random(in: 0..<data.count, using: &g)] = UInt8.random(in: 0...255, using: &g)
                    }
                }
                do {
                    _ = try TorchCheckpoint.load(data: data, path: name)
                    outcomes.loaded += 1
                } catch is EmbedScopeError {
                    outcomes.refused += 1
                } catch {
                    XCTFail("\(name) trial \(trial) (seed \(seed)): \(error)")
                }
            }
        }
        XCTAssertGreaterThan(outcomes.refused, 1000)
        XCTAssertGreaterThan(outcomes.loaded, 50) // flips inside float data still load
    }

    /// The same for the zip fixtures' data.pkl, fed to the unpickler directly (in the archive the
    /// CRC-32 check catches most damage before the unpickler sees it).
    func testDamagedPicklesNeverCrash() throws {
        let seed: UInt64 = 0x91C_41E5
        var g = SeededGenerator(seed: seed)
        for name in ["lightning.ckpt", "dtypes_zip.pt", "views_zip.pt"] {
            let data = try Data(contentsOf: Self.url(name))
            let pickle: [UInt8] = try data.withUnsafeBytes { raw in
                let dir = try ZipDirectory(raw)
                let entry = try XCTUnwrap(dir.entries.first { $0.name.hasSuffix("/data.pkl") })
                return Array(raw[try dir.dataRange(of: entry, in: raw)])
            }
            for trial in 0..<1500 {
                var bytes = pickle
                let flips = 1 + trial % 3
                for _ in 0..<flips {
                    let i = Int.random(in: 0..<bytes.count, using: &g)
                    if trial % 2 == 0 {
                        bytes[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &g)
                    } else {
                        bytes[i] = UInt8.random(in: 0...255, using: &g)
                    }
                }
                if trial % 5 == 0 { bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &g))) }
                var u = Unpickler(path: name)
                u.maxStorageBytes = data.count
                do {
                    let (root, _) = try bytes.withUnsafeBytes { try u.load($0, label: "data.pkl") }
                    _ = try TorchCheckpoint.stateDictEntries(root, heap: u.heap, path: name)
                } catch is EmbedScopeError {
                } catch {
                    XCTFail("\(name) trial \(trial) (seed \(seed)): \(error)")
                }
            }
        }
    }
}

// MARK: - Writing pickles by hand

/// Opcode-level pickle writer for tests.
struct PickleBytes {
    var bytes: [UInt8]

    init(protocol proto: UInt8 = 2) {
        bytes = [0x80, proto]
    }

    mutating func op(_ b: UInt8) { bytes.append(b) }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func stop() { op(0x2E) }

    mutating func string(_ s: String) {
        let b = Array(s.utf8)
        op(0x58)
        withUnsafeBytes(of: UInt32(b.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: b)
    }

    mutating func int(_ v: Int) {
        if let small = Int32(exactly: v) {
            op(0x4A)
            withUnsafeBytes(of: small.littleEndian) { bytes.append(contentsOf: $0) }
        } else {
            op(0x8A)
            op(8)
            withUnsafeBytes(of: Int64(v).littleEndian) { bytes.append(contentsOf: $0) }
        }
    }

    mutating func global(_ module: String, _ name: String) {
        op(0x63)
        raw(Array("\(module)\n\(name)\n".utf8))
    }

    mutating func intTuple(_ values: [Int]) {
        op(0x28)
        values.forEach { int($0) }
        op(0x74)
    }
}

/// A legacy-format checkpoint with one float storage "k0" of `numel` elements (data: `data`) and
/// tensors `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`.
func legacyFile(tensors: [(String, offset: Int, size: [Int], stride: [Int])], numel: Int, data: [Float]) -> Data {
    var out = Data()
    var magic = PickleBytes()
    magic.op(0x8A); magic.op(10); magic.raw(TorchCheckpoint.legacyMagic); magic.stop()
    var version = PickleBytes()
    version.int(1001); version.stop()
    var info = PickleBytes()
    info.op(0x7D); info.stop()
    var object = PickleBytes()
    object.op(0x7D); object.op(0x28)
    for (name, offset, size, stride) in tensors {
        object.string(name)
        object.global("torch._utils", "_rebuild_tensor_v2")
        object.op(0x28)
        object.op(0x28); object.string("storage"); object.global("torch", "FloatStorage"); object.string("k0"); object.string("cpu")
        object.int(numel); object.op(0x4E); object.op(0x74); object.op(0x51) // pid tuple, BINPERSID
        object.int(offset); object.intTuple(size); object.intTuple(stride)
        object.op(0x89); object.global("collections", "OrderedDict"); object.op(0x29); object.op(0x52)
        object.op(0x74); object.op(0x52)
    }
    object.op(0x75); object.stop()
    var keys = PickleBytes()
    keys.op(0x5D); keys.op(0x28); keys.string("k0"); keys.op(0x65); keys.stop()
    for p in [magic, version, info, object, keys] { out.append(contentsOf: p.bytes) }
    withUnsafeBytes(of: Int64(data.count).littleEndian) { out.append(contentsOf: $0) }
    data.withUnsafeBytes { out.append(contentsOf: $0) }
    return out
}

/// A zip archive of stored entries, as PyTorch lays it out (optionally with ZIP64 extended
/// information in every central directory entry, and a ZIP64 end record). `method` is written
/// into the headers as is (the data stays stored), to test refusal of compressed entries.
func zipFile(_ entries: [(String, [UInt8])], zip64: Bool = false, method: UInt16 = 0) -> Data {
    var out = Data()
    func u16(_ v: UInt16, _ d: inout Data) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    func u32(_ v: UInt32, _ d: inout Data) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    func u64(_ v: UInt64, _ d: inout Data) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    var central = Data()
    for (name, bytes) in entries {
        let offset = out.count, crc = Checksum.crc32(bytes), nameBytes = Array(name.utf8)
        u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(method, &out); u32(0, &out)
        u32(crc, &out); u32(UInt32(bytes.count), &out); u32(UInt32(bytes.count), &out)
        u16(UInt16(nameBytes.count), &out); u16(0, &out)
        out.append(contentsOf: nameBytes)
        out.append(contentsOf: bytes)
        u32(0x0201_4B50, &central); u16(45, &central); u16(20, &central); u16(0, &central); u16(method, &central); u32(0, &central)
        u32(crc, &central)
        let size32 = zip64 ? UInt32.max : UInt32(bytes.count)
        u32(size32, &central); u32(size32, &central)
        u16(UInt16(nameBytes.count), &central); u16(zip64 ? 28 : 0, &central); u16(0, &central)
        u16(0, &central); u16(0, &central); u32(0, &central)
        u32(zip64 ? UInt32.max : UInt32(offset), &central)
        central.append(contentsOf: nameBytes)
        if zip64 {
            u16(1, &central); u16(24, &central)
            u64(UInt64(bytes.count), &central); u64(UInt64(bytes.count), &central); u64(UInt64(offset), &central)
        }
    }
    let cdOffset = out.count
    out.append(central)
    if zip64 {
        let record = out.count
        u32(0x0606_4B50, &out); u64(44, &out); u16(45, &out); u16(45, &out); u32(0, &out); u32(0, &out)
        u64(UInt64(entries.count), &out); u64(UInt64(entries.count), &out)
        u64(UInt64(central.count), &out); u64(UInt64(cdOffset), &out)
        u32(0x0706_4B50, &out); u32(0, &out); u64(UInt64(record), &out); u32(1, &out)
    }
    u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out)
    u16(UInt16(entries.count), &out); u16(UInt16(entries.count), &out)
    u32(zip64 ? UInt32.max : UInt32(central.count), &out); u32(zip64 ? UInt32.max : UInt32(cdOffset), &out); u16(0, &out)
    return out
}
