import EmbedScopeCore
import EmbedScopeImages
/// The restricted-global policy: the only module-level names a checkpoint's pickle may refer to,
/// and what each one is. Loading a checkpoint never imports or runs anything: a GLOBAL opcode
/// becomes a `TorchGlobal` only if its `module.name` is in `allowList`; REDUCE / NEWOBJ on it then
/// builds a value as described by its `Role` (`Unpickler+Torch.swift`). Every other name —
/// `os.system`, `builtins.eval`, `numpy.core.multiarray._reconstruct`, a user's class — is refused
/// when the GLOBAL opcode is read, before any argument is looked at.
struct TorchGlobal: Sendable, Equatable {
    /// `module.name` as the pickle spells it (`__builtin__` read as `builtins`).
    let qualifiedName: String
    let role: Role

    enum Role: Sendable, Equatable {
        /// Builds a dict: `collections.OrderedDict`, Lightning's `AttributeDict`.
        case dict
        /// Builds a list from one iterable: `builtins.set`, `builtins.frozenset`.
        case set
        /// Builds an opaque object holding its arguments: `builtins.slice`.
        case slice
        /// Builds an opaque object holding its arguments (between the bounds in number): values
        /// `torch.load(weights_only=True)` accepts in a checkpoint's metadata — `torch.device`,
        /// `torch.Size`, `builtins.complex`, `builtins.bytearray`. No weight is ever one of them.
        case opaque(ClosedRange<Int>)
        /// `torch.torch_version.TorchVersion(str)`: a string.
        case string
        /// `_codecs.encode(str, encoding)`: how protocol 2 pickles `bytes`.
        case encode
        /// `_rebuild_tensor_v2(storage, offset, size, stride, …)` and `_rebuild_tensor(…)`: a tensor view.
        case rebuildTensor
        /// `_rebuild_parameter(tensor, requires_grad, hooks)`: the tensor.
        case rebuildParameter
        /// `_rebuild_from_type_v2(func, type, args, state)`: `func(*args)` when `type` is Parameter or Tensor.
        case rebuildFromType
        /// `torch.nn.parameter.Parameter`: as a type argument, or called on a tensor.
        case parameterClass
        /// `torch.Tensor`: only as a type argument.
        case tensorClass
        /// A storage class, only as the type inside a persistent id.
        case storage(TorchDType)
        /// A dtype object (`torch.float32`, …): an inert value.
        case dtype
    }

    /// The allow list. Keys are `module.name`.
    static let allowList: [String: Role] = {
        var list: [String: Role] = [
            "collections.OrderedDict": .dict,
            "pytorch_lightning.utilities.parsing.AttributeDict": .dict,
            "lightning_fabric.utilities.data.AttributeDict": .dict,
            // The same two classes inside the unified `lightning` package.
            "lightning.pytorch.utilities.parsing.AttributeDict": .dict,
            "lightning.fabric.utilities.data.AttributeDict": .dict,
            "builtins.set": .set,
            "builtins.frozenset": .set,
            "builtins.slice": .slice,
            "torch.device": .opaque(1...2),
            "torch.Size": .opaque(0...1),
            "builtins.complex": .opaque(0...2),
            "builtins.bytearray": .opaque(0...3),
            "collections.Counter": .dict,
            "torch.torch_version.TorchVersion": .string,
            "_codecs.encode": .encode,
            "torch._utils._rebuild_tensor_v2": .rebuildTensor,
            "torch._utils._rebuild_tensor": .rebuildTensor,
            "torch._utils._rebuild_parameter": .rebuildParameter,
            "torch._tensor._rebuild_from_type_v2": .rebuildFromType,
            "torch.nn.parameter.Parameter": .parameterClass,
            "torch.Tensor": .tensorClass,
            "torch._tensor.Tensor": .tensorClass,
            // Untyped storages hold bytes.
            "torch.storage.UntypedStorage": .storage(.uint8),
            "torch.UntypedStorage": .storage(.uint8),
            "torch.storage.TypedStorage": .storage(.uint8),
            "torch.TypedStorage": .storage(.uint8),
        ]
        for dtype in TorchDType.allCases { list["torch.\(dtype.storageClass)"] = .storage(dtype) }
        for name in ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
                     "uint16", "uint32", "uint64", "complex32", "complex64", "complex128",
                     "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz"] {
            list["torch.\(name)"] = .dtype
        }
        return list
    }()

    /// The allowed global named `module.name`, or an error that names it and says why it is refused.
    static func resolve(module rawModule: String, name: String, unpickler: Unpickler) throws -> TorchGlobal {
        // Protocol 0-2 pickles written by Python 3 spell `builtins` the Python 2 way.
        let module = rawModule == "__builtin__" ? "builtins" : rawModule
        let qualified = "\(module).\(name)"
        if let role = allowList[qualified] { return TorchGlobal(qualifiedName: qualified, role: role) }
        throw refusal(qualified, module: module, name: name, unpickler: unpickler)
    }

    private static func refusal(_ qualified: String, module: String, name: String, unpickler: Unpickler) -> EmbedScopeError {
        let shown = String(qualified.prefix(200))
        if module == "torch", name.hasSuffix("Storage") {
            return unpickler.error("holds a tensor of storage type `\(shown)`, which this reader does not convert",
                                   hint: "float32/16/64, bfloat16, int64/32/16/8, uint8 and bool tensors are read; convert the others with tensor.float() before saving")
        }
        if qualified == "torch._utils._rebuild_tensor_v3" {
            // PyTorch's form for dtypes without a typed storage class (uint16/32/64, float8, …).
            return unpickler.error("holds a tensor of a dtype saved through `\(shown)` (uint16/32/64, float8, …), which this reader does not convert",
                                   hint: "float32/16/64, bfloat16, int64/32/16/8, uint8 and bool tensors are read; convert the others with tensor.float() before saving")
        }
        if module.hasPrefix("__torch__") {
            return unpickler.error("refers to `\(shown)`: this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint",
                                   hint: "load it in Python and save the weights alone: torch.save(model.state_dict(), path)")
        }
        return unpickler.error(
            "refers to `\(shown)`, which is not on the list of allowed globals. Loading a checkpoint never executes code, "
                + "so objects that need `\(shown)` to be rebuilt cannot be read",
            hint: "save the weights alone: torch.save(model.state_dict(), path)")
    }
}
