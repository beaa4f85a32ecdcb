#!/usr/bin/env python3
"""Generates the PyTorch checkpoint fixtures in Tests/EmbedScopeTests/Fixtures/checkpoints/.

    python3 Scripts/make_checkpoint_fixtures.py      # needs torch (any 2.x; written with 2.15)

Values are deterministic (torch.manual_seed(SEED)); the bytes are not quite: the zip format
carries a random serialization id and the legacy format names storages by memory address.

Outputs (format: zip = torch.save default, legacy = _use_new_zipfile_serialization=False)
  tiny_zip.pt, tiny_legacy.pt     state_dict of a small conv/bn/depthwise/pointwise/linear model
  tiny_zip_truncated.pt           the first 60% of tiny_zip.pt (no central directory)
  tiny_legacy_truncated.pt        tiny_legacy.pt cut inside its raw storages
  lightning.ckpt                  a PyTorch-Lightning-shaped dict: the model's tensors under
                                  "state_dict" with a "model." prefix, optimizer state with its own
                                  tensors, hyper_parameters as an AttributeDict (a stand-in class
                                  registered under pytorch_lightning.utilities.parsing so the pickle
                                  names it as Lightning would), plus a set, bytes, a slice, a
                                  TorchVersion and a dtype among the non-tensor values
  dataparallel_legacy.pt          the tiny state_dict with every key prefixed "module."
  views_zip.pt, views_legacy.pt   non-contiguous tensors: transposed, step slices, offsets, views
                                  sharing one storage, expand (stride 0), TF-ordered conv weight
  dtypes_zip.pt (pickle protocol 5), dtypes_legacy.pt (protocol 4)
                                  float16, bfloat16, float64, int64/32/16/8, uint8, bool, 0-d
  evil_legacy.pt                  legacy layout whose object pickle calls os.system (GLOBAL opcode)
  evil_zip.pt                     zip layout whose data.pkl calls os.system (STACK_GLOBAL, protocol 4)
                                  Both are hand-written opcodes; this script never unpickles them
                                  (it only disassembles them with pickletools, which executes nothing).
  expected.json                   {fixture group: {tensor name: {"shape": [...], "bits": [...]}}}
                                  "bits" are the float32 bit patterns of tensor.float().contiguous(),
                                  i.e. exactly what the Swift reader must produce (PyTorch's own
                                  fp16/bf16/fp64/int -> fp32 conversion).
"""

import io
import json
import os
import pickle
import pickletools
import struct
import sys
import types
import zipfile
from collections import OrderedDict

import torch
import torch.nn as nn

SEED = 20240917
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "EmbedScopeTests", "Fixtures", "checkpoints")


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.pw = nn.Conv2d(8, 4, 1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = torch.relu(self.bn2(self.dw(x)))
        return self.fc(self.pw(x).mean((2, 3)))


def bits(t):
    """float32 bit patterns of t.float(), C order."""
    f = t.detach().float().contiguous().reshape(-1)
    return f.view(torch.int32).tolist() if f.numel() else []


def expected_of(sd):
    return {k: {"shape": list(v.shape), "bits": [b & 0xFFFFFFFF for b in bits(v)]} for k, v in sd.items()}


def save(obj, name, legacy=False, protocol=2):
    path = os.path.join(OUT, name)
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy, pickle_protocol=protocol)
    return path


def tiny_state_dict():
    model = Tiny()
    with torch.no_grad():
        for bn in (model.bn, model.bn2):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.1)
    model.train()
    for _ in range(3):  # real running statistics and num_batches_tracked = 3
        model(torch.randn(2, 3, 8, 8))
    return OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())


def views():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5 - 3
    col = torch.randn(3, 1)
    tf = torch.randn(3, 3, 2, 4)  # TensorFlow HWIO order, exposed as OIHW like the shipped EfficientNet
    d = OrderedDict()
    d["base"] = base
    d["transposed"] = base.t()
    d["step_slice"] = base[:, ::2]
    d["offset_slice"] = base[1:3, 1::2]
    d["row"] = base[2]
    d["reshaped_view"] = base.view(2, 12)
    d["expanded"] = col.expand(3, 4)
    d["tf_conv"] = tf.permute(3, 2, 0, 1)
    d["empty"] = base[:0]
    assert not d["transposed"].is_contiguous() and d["expanded"].stride() == (1, 0)
    assert d["tf_conv"].stride() == (1, 4, 24, 8)
    assert d["offset_slice"].storage_offset() == 7
    return d


def dtypes():
    d = OrderedDict()
    d["f16"] = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1035e-05, 5.96e-08, 3.0e-06, float("inf"), -float("inf"), 0.1],
                            dtype=torch.float16)
    d["bf16"] = torch.tensor([0.0, -1.0, 3.140625, 1.0e-40, 3.0e38, -float("inf"), 0.1], dtype=torch.bfloat16)
    d["f64"] = torch.tensor([[0.1, -1.0 / 3.0], [1e-310, 1e300], [-1e300, 123456789.123456789]], dtype=torch.float64)
    d["i64"] = torch.tensor([0, -1, 2**40 + 1, -(2**62), 2**63 - 1], dtype=torch.int64)
    d["i32"] = torch.tensor([[7, -8], [2**31 - 1, -(2**31)]], dtype=torch.int32)
    d["i16"] = torch.tensor([-32768, 32767, 5], dtype=torch.int16)
    d["i8"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
    d["u8"] = torch.tensor([0, 255, 128], dtype=torch.uint8)
    d["bool"] = torch.tensor([True, False, True])
    d["scalar_i64"] = torch.tensor(42)
    d["scalar_f32"] = torch.tensor(-0.75)
    d["f16_transposed"] = torch.randn(3, 5).half().t()
    return d


class AttributeDict(dict):
    """Stand-in for Lightning's AttributeDict: pickles by reference to the module below."""


def lightning(sd):
    names = ["pytorch_lightning", "pytorch_lightning.utilities", "pytorch_lightning.utilities.parsing"]
    for name in names:  # pickle re-imports the class by name: register the package chain
        sys.modules.setdefault(name, types.ModuleType(name))
    mod = sys.modules[names[-1]]
    AttributeDict.__module__ = mod.__name__
    mod.AttributeDict = AttributeDict
    hp = AttributeDict(lr=1e-3, name="tiny", widths=[8, 8, 4], dtype=torch.float32)
    return {
        "epoch": 3,
        "global_step": 100,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": OrderedDict(("model." + k, v) for k, v in sd.items()),
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 4, "completed": 3}}}},
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score": torch.tensor(0.25),
                                                                  "best_model_path": "/tmp/epoch=3.ckpt"}},
        "optimizer_states": [{"state": {0: {"step": torch.tensor(100.0), "exp_avg": torch.randn(8, 3, 3, 3)}},
                              "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1]}]}],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": hp,
        "misc": {"tags": {"a", "b"}, "blob": b"\x00\x01\xfe\xff", "window": slice(1, 5, 2),
                 "torch_version": torch.__version__, "big": 2**70, "ratio": 0.5, "none": None},
    }


def evil_pickle_global():
    """Protocol 2: GLOBAL 'os system', ('echo pwned',), REDUCE. Never unpickled here."""
    cmd = b"echo pwned"
    return (b"\x80\x02" + b"cos\nsystem\n" + b"q\x00" + b"X" + struct.pack("<I", len(cmd)) + cmd
            + b"q\x01" + b"\x85" + b"q\x02" + b"R" + b"q\x03" + b".")


def evil_pickle_stack_global():
    """Protocol 4: SHORT_BINUNICODE 'os', 'system', STACK_GLOBAL, ('true',), REDUCE."""
    def sbu(s):
        return b"\x8c" + bytes([len(s)]) + s + b"\x94"
    return b"\x80\x04" + sbu(b"os") + sbu(b"system") + b"\x93\x94" + sbu(b"true") + b"\x85\x94" + b"R\x94" + b"."


def write_evil():
    for p in (evil_pickle_global(), evil_pickle_stack_global()):
        pickletools.dis(p, out=io.StringIO())  # well-formed; disassembly executes nothing
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    version = pickle.dumps(1001, protocol=2)
    sys_info = pickle.dumps({"protocol_version": 1001, "little_endian": True,
                             "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    keys = pickle.dumps([], protocol=2)
    with open(os.path.join(OUT, "evil_legacy.pt"), "wb") as f:
        f.write(magic + version + sys_info + evil_pickle_global() + keys)
    with zipfile.ZipFile(os.path.join(OUT, "evil_zip.pt"), "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("evil/data.pkl", evil_pickle_stack_global())
        z.writestr("evil/byteorder", "little")
        z.writestr("evil/version", "3\n")


def truncate(src, dst, fraction):
    data = open(os.path.join(OUT, src), "rb").read()
    with open(os.path.join(OUT, dst), "wb") as f:
        f.write(data[: int(len(data) * fraction)])


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(SEED)
    sd = tiny_state_dict()
    vw = views()
    dt = dtypes()
    expected = {"tiny": expected_of(sd), "views": expected_of(vw), "dtypes": expected_of(dt)}

    save(sd, "tiny_zip.pt")
    save(sd, "tiny_legacy.pt", legacy=True)
    truncate("tiny_zip.pt", "tiny_zip_truncated.pt", 0.6)
    truncate("tiny_legacy.pt", "tiny_legacy_truncated.pt", 0.9)
    save(lightning(sd), "lightning.ckpt")
    save(OrderedDict(("module." + k, v) for k, v in sd.items()), "dataparallel_legacy.pt", legacy=True)
    save(vw, "views_zip.pt")
    save(vw, "views_legacy.pt", legacy=True)
    save(dt, "dtypes_zip.pt", protocol=5)
    save(dt, "dtypes_legacy.pt", legacy=True, protocol=4)
    write_evil()

    # The files load back to the same values. (weights_only=False: these are files this script just
    # wrote from tensors; torch's restricted unpickler refuses the FRAME opcode of protocol 4/5.)
    for name in ("tiny_zip.pt", "tiny_legacy.pt", "views_zip.pt", "views_legacy.pt", "dtypes_zip.pt", "dtypes_legacy.pt"):
        back = torch.load(os.path.join(OUT, name), weights_only=False)
        group = expected[name.split("_")[0]]
        assert list(back) == list(group), name
        for k, v in back.items():
            assert [b & 0xFFFFFFFF for b in bits(v)] == group[k]["bits"], (name, k)

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    total = 0
    for name in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, name))
        total += size
        print(f"{size:8d}  {name}")
    print(f"{total:8d}  total")
    assert total < 200_000


if __name__ == "__main__":
    main()
