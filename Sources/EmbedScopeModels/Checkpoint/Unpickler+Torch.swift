import EmbedScopeCore
import EmbedScopeImages
/// What REDUCE / NEWOBJ / INST on an allowed global builds, and how persistent ids become
/// storages. Nothing here runs code: each role builds a value from its arguments or throws.
extension Unpickler {
    /// Calls allowed global `g` with `args` (REDUCE, NEWOBJ, INST, OBJ).
    mutating func call(_ g: TorchGlobal, _ args: [PickleValue]) throws -> PickleValue {
        try call(g, args, depth: 0)
    }

    private mutating func call(_ g: TorchGlobal, _ args: [PickleValue], depth: Int) throws -> PickleValue {
        func bad(_ why: String) -> EmbedScopeError {
            corrupt("\(g.qualifiedName) called with \(why)")
        }
        switch g.role {
        case .dict:
            var d = PickleDict()
            guard args.count <= 1 else { throw bad("\(args.count) arguments") }
            // A copy of a dict or of a sequence of pairs: charged in full, as a hostile pickle can
            // repeat it for a few bytes each time (the copy shares storage only until it is changed).
            if let source = args.first {
                if case .dict(let i) = source {
                    try charge(2 * heap.dicts[i].count)
                    d = heap.dicts[i]
                } else if let pairs = heap.sequence(source) {
                    try charge(2 * pairs.count)
                    for pair in pairs {
                        guard let kv = heap.sequence(pair), kv.count == 2 else { throw bad("an item that is not a key-value pair") }
                        d.set(kv[0], kv[1])
                    }
                } else {
                    throw bad("a \(source.typeName)")
                }
            }
            return heap.dict(d)

        case .set:
            guard args.count <= 1 else { throw bad("\(args.count) arguments") }
            guard let source = args.first else { return heap.list() }
            guard let items = heap.sequence(source) else { throw bad("a \(source.typeName)") }
            try charge(items.count) // a copy, as for dicts above
            return heap.list(items)

        case .slice:
            guard (1...3).contains(args.count) else { throw bad("\(args.count) arguments") }
            return heap.object(OpaqueObject(type: g, arguments: args))

        case .opaque(let arity):
            guard arity.contains(args.count) else { throw bad("\(args.count) arguments") }
            return heap.object(OpaqueObject(type: g, arguments: args))

        case .string:
            guard args.count <= 1 else { throw bad("\(args.count) arguments") }
            guard let first = args.first else { return .string("") }
            guard case .string = first else { throw bad("a \(first.typeName)") }
            return first

        case .encode:
            guard (1...2).contains(args.count), let text = args[0].stringValue else { throw bad("arguments other than (str, encoding)") }
            let encoding = args.count == 2 ? args[1].stringValue?.lowercased() : "utf-8"
            try charge(text.utf8.count) // a new byte array per call, however often the string is reused
            switch encoding {
            case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
                var out: [UInt8] = []
                out.reserveCapacity(text.unicodeScalars.count)
                for scalar in text.unicodeScalars {
                    guard scalar.value < 256 else { throw bad("a string that is not latin-1") }
                    out.append(UInt8(scalar.value))
                }
                return .bytes(out)
            case "utf-8", "utf8":
                return .bytes(Array(text.utf8))
            default:
                throw error("encodes bytes as `\(String(describing: encoding ?? "?").prefix(40))`, which this reader does not decode")
            }

        case .rebuildTensor:
            return try rebuildTensor(args, name: g.qualifiedName)

        case .rebuildParameter, .parameterClass:
            guard let first = args.first, case .tensor = first else { throw bad("no tensor as first argument") }
            return first

        case .rebuildFromType:
            // _rebuild_from_type_v2(func, new_type, args, state): func(*args) re-typed as new_type.
            guard args.count == 4 else { throw bad("\(args.count) arguments") }
            guard case .global(let type) = args[1], type.role == .parameterClass || type.role == .tensorClass else {
                let shown: String
                if case .global(let other) = args[1] { shown = other.qualifiedName } else { shown = args[1].typeName }
                throw error("rebuilds a tensor as type `\(shown)`; only torch.Tensor and torch.nn.Parameter are read",
                            hint: "save plain tensors: torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, path)")
            }
            guard case .global(let function) = args[0] else { throw bad("a \(args[0].typeName) as function") }
            guard case .tuple(let t) = args[2] else { throw bad("a \(args[2].typeName) as arguments") }
            guard depth < 4 else { throw bad("nested re-typing more than 4 levels deep") }
            let result = try call(function, heap.tuples[t], depth: depth + 1)
            guard case .tensor = result else { throw bad("a function that does not build a tensor") }
            return result

        case .tensorClass, .storage, .dtype:
            throw corrupt("\(g.qualifiedName) is called, which a torch.save pickle never does")
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`
    /// (and the older `_rebuild_tensor`, the first four). Checks every index against the storage.
    private mutating func rebuildTensor(_ args: [PickleValue], name: String) throws -> PickleValue {
        guard args.count >= 4, case .storage(let s) = args[0] else {
            throw corrupt("\(name) needs (storage, offset, size, stride), got \(args.count) arguments starting with \(args.first?.typeName ?? "nothing")")
        }
        guard let offset = args[1].intValue,
              let shape = heap.sequence(args[2])?.compactMap(\.intValue), shape.count == heap.sequence(args[2])?.count,
              let strides = heap.sequence(args[3])?.compactMap(\.intValue), strides.count == heap.sequence(args[3])?.count
        else { throw corrupt("\(name): offset, size or stride is not made of integers") }
        let storage = heap.storages[s]
        do {
            heap.tensors.append(try TensorRef(storage: s, offset: offset, shape: shape, strides: strides, storageCount: storage.count))
        } catch let e as TensorRef.Invalid {
            throw corrupt("\(name): tensor of size \(shape.prefix(8)), stride \(strides.prefix(8)), offset \(offset) \(e.reason) "
                          + "(its storage '\(storage.key.prefix(40))' holds \(storage.count) elements)")
        }
        return .tensor(heap.tensors.count - 1)
    }

    /// A persistent id `('storage', storage_type, key, location, numel[, view_metadata])` names a
    /// storage whose bytes come after the pickles (legacy) or in `data/<key>` (zip). `view_metadata`,
    /// legacy only, is `(view_key, offset, size)` in elements of the root storage.
    mutating func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let t) = pid else { throw corrupt("persistent id is a \(pid.typeName), not a ('storage', …) tuple") }
        let items = heap.tuples[t]
        guard let kind = items.first?.stringValue else { throw corrupt("persistent id does not start with a string") }
        guard kind == "storage" else {
            if kind == "module" {
                throw error("holds a whole nn.Module saved with its source code, which this reader does not rebuild",
                            hint: "load it in Python and save the weights alone: torch.save(model.state_dict(), path)")
            }
            throw corrupt("persistent id of kind '\(kind.prefix(40))'")
        }
        guard items.count == 5 || items.count == 6 else { throw corrupt("storage persistent id with \(items.count) fields") }
        guard case .global(let type) = items[1], case .storage(let dtype) = type.role else {
            throw corrupt("storage persistent id whose type is a \(items[1].typeName)")
        }
        let key: String
        switch items[2] {
        case .string(let s): key = s
        case .int(let i): key = String(i)
        default: throw corrupt("storage key is a \(items[2].typeName)")
        }
        guard let count = items[4].intValue, count >= 0 else { throw corrupt("storage '\(key.prefix(40))' has no valid element count") }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, bytes <= maxStorageBytes else {
            throw error("storage '\(key.prefix(40))' claims \(count) elements of \(dtype) — more than the whole file (\(maxStorageBytes) bytes) holds; the file is corrupt",
                        hint: "the file is damaged or not a PyTorch checkpoint")
        }
        if let seen = storageRoots[key] {
            guard seen.dtype == dtype, seen.count == count else {
                throw corrupt("storage '\(key.prefix(40))' is named twice with different types or sizes (\(seen.dtype) × \(seen.count), \(dtype) × \(count))")
            }
        } else {
            storageRoots[key] = (dtype, count)
        }
        var ref = StorageRef(key: key, dtype: dtype, viewOffset: 0, count: count)
        if items.count == 6, case .tuple(let v) = items[5] {
            let view = heap.tuples[v]
            guard view.count == 3, let offset = view[1].intValue, let size = view[2].intValue,
                  offset >= 0, size >= 0, offset <= count, size <= count - offset else {
                throw corrupt("storage '\(key.prefix(40))' has a view outside its \(count) elements")
            }
            ref.viewOffset = offset
            ref.count = size
        } else if items.count == 6, case .none = items[5] {
            // No view: the whole storage.
        } else if items.count == 6 {
            throw corrupt("storage view metadata is a \(items[5].typeName)")
        }
        heap.storages.append(ref)
        return .storage(heap.storages.count - 1)
    }
}
