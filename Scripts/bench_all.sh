#!/usr/bin/env bash
# Reruns every figure of docs/performance.md, each with the default environment and with
# OPENBLAS_CORETYPE=Prescott forced (OpenBLAS's generic fallback, what Debian's 0.3.21 runs on
# CPUs it does not know), and — for the GEMM-bound rows — with our kernels (default) and with
# EMBEDSCOPE_GEMM=openblas (the reference). Only ratios within one run mean anything: the
# machines are shared and noisy.
#
#   Scripts/bench_all.sh [--quick] [--hide-avx512]
#     --quick: smaller search/silhouette data, fewer runs
#     --hide-avx512: every process (ours and every reference) sees a CPU without AVX-512
#       (Scripts/hide_avx512.c, LD_PRELOAD, Linux CPUID faulting): the figures an AVX2-only CPU
#       gives, measured on this one
#
# Needs a release build (built if missing) and Scripts/setup.sh --bench (numpy, scikit-learn,
# faiss-cpu). The PyTorch / ONNX Runtime rows need Scripts/setup.sh --torch and are skipped
# when torch is not importable. Data goes to bench-data/ (git-ignored).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.build/release/embedscope"
BENCH="$ROOT/.build/release/embedscope-bench"
DATA="$ROOT/bench-data"
QUICK=0
HIDE=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    --hide-avx512) HIDE=1 ;;
    *) echo "bench_all.sh: unknown option $a (use --quick, --hide-avx512)" >&2; exit 2 ;;
  esac
done
mkdir -p "$DATA"
# Built before the shim is preloaded: compilers install their own SIGSEGV handlers (LLVM's crash
# reporter), which would receive the shim's CPUID faults.
[[ -x "$BIN" ]] || swift build -c release --product embedscope
[[ -x "$BENCH" ]] || swift build -c release --product embedscope-bench
if [[ $HIDE == 1 ]]; then
  grep -qw cpuid_fault /proc/cpuinfo || { echo "bench_all.sh: --hide-avx512 needs CPUID faulting (cpuid_fault in /proc/cpuinfo)" >&2; exit 2; }
  CC="${CC:-$(command -v cc || command -v clang)}"
  "$CC" -O2 -shared -fPIC -o "$DATA/hide_avx512.so" "$ROOT/Scripts/hide_avx512.c" || exit 2
  export LD_PRELOAD="$DATA/hide_avx512.so${LD_PRELOAD:+:$LD_PRELOAD}"
fi

ENVS=("" "OPENBLAS_CORETYPE=Prescott")
run() {  # run ENV CMD...: prints the command line, then runs it with ENV added
  local env="$1"; shift
  echo "\$ ${env:+$env }$*"
  env $env "$@"
  echo
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC')"
[[ $HIDE == 1 ]] && echo "# --hide-avx512: every process sees CPUID without AVX-512 / AMX (LD_PRELOAD=$LD_PRELOAD)"
run "" "$BIN" info --system
run "OPENBLAS_CORETYPE=Prescott" "$BIN" info --system

echo "## GEMM kernels on the hot shapes (one thread; every path in the same process)"
for e in "${ENVS[@]}"; do run "$e" "$BENCH" gemm --threads 1 --repeat 5; done
# The kernels the network runs its 1×1 convolutions on, every shape of EfficientNet-Lite0 (OpenBLAS plays no part).
run "" "$BENCH" gemm --pointwise --repeat 10
run "" "$BENCH" gemm --depthwise --repeat 10

echo "## One query on 1M x 512: float32 scan, f16/bf16 copy scan (exact re-scoring), bandwidth pass"
for e in "${ENVS[@]}"; do run "$e" "$BENCH" half --synthetic 1000000x512 --storage f16 --repeat 7; done
run "" "$BENCH" half --synthetic 1000000x512 --storage bf16 --repeat 7

echo "## Forward passes (synthetic preprocessed inputs; compute does not depend on the values)"
python3 - "$DATA/forward_inputs.npy" <<'PY'
import sys, numpy as np
p = sys.argv[1]
try:
    if np.load(p, mmap_mode="r").shape == (32, 3 * 224 * 224): sys.exit(0)
except Exception: pass
np.save(p, np.random.default_rng(10).standard_normal((32, 3 * 224 * 224), dtype=np.float32))
PY
FIX="$ROOT/Tests/EmbedScopeTests/Fixtures/models"
for e in "${ENVS[@]}"; do
  for g in "" "EMBEDSCOPE_GEMM=openblas"; do
    run "$e $g" "$BENCH" extract --model efficientnet-lite0 --inputs "$DATA/forward_inputs.npy" --batch 1 32 --runs 3
    # ResNets with the pooled-weight fixtures (same shapes and FLOPs as the ImageNet weights).
    run "$e $g" "$BENCH" extract --model resnet18 --weights "$FIX/resnet18_legacy.pth" --inputs "$DATA/forward_inputs.npy" --batch 32 --runs 3
    [[ -z "$g" ]] && run "$e EMBEDSCOPE_CONV3X3=im2col" "$BENCH" extract --model resnet18 --weights "$FIX/resnet18_legacy.pth" --inputs "$DATA/forward_inputs.npy" --batch 32 --runs 3 --profile
    run "$e $g" "$BENCH" extract --model resnet50 --weights "$FIX/resnet50_zip.pt" --inputs "$DATA/forward_inputs.npy" --batch 32 --runs 3
  done
done
if python3 -c "import torch, onnxruntime" 2>/dev/null; then
  for e in "${ENVS[@]}"; do
    run "$e" python3 Scripts/bench_extract.py --images 64 --batches 1,32 --runs 3
    # Paired turns: our warm process and ONNX Runtime alternate on the same 32 images (~0.1 s each,
    # a 50 ms pause before each turn), 40 pairs per batch size; the median of the pair ratios.
    run "$e" python3 Scripts/bench_extract_rounds.py --rounds 40 --images 256 --chunk 32 --batches 1,32
    run "$e" python3 Scripts/bench_resnet.py --models resnet18,resnet50 --batch 32 --runs 3 --im2col
  done
else
  echo "(PyTorch / ONNX Runtime not installed: Scripts/setup.sh --torch for the bench_extract.py / bench_resnet.py rows)"
fi

echo "## build of a 700-JPEG folder (EfficientNet-Lite0) against ONNX Runtime + Pillow doing the same work"
if python3 -c "import torch, onnxruntime, skimage" 2>/dev/null; then
  for e in "${ENVS[@]}"; do
    if [[ $QUICK == 1 ]]; then run "$e" python3 Scripts/bench_build.py --images 200 --rounds 1
    else run "$e" python3 Scripts/bench_build.py --rounds 3; fi
  done
else
  echo "(PyTorch / ONNX Runtime / scikit-image not installed: Scripts/setup.sh --torch for the bench_build.py rows)"
fi

echo "## Exact silhouette 10,000 × 1,280 against scikit-learn"
for e in "${ENVS[@]}"; do
  for g in "" "EMBEDSCOPE_GEMM=openblas"; do
    if [[ $QUICK == 1 ]]; then run "$e $g" python3 Scripts/bench_metrics.py --repeat 1 --big-rows 0
    else run "$e $g" python3 Scripts/bench_metrics.py --repeat 5 --big-rows 0; fi
  done
done

echo "## Exact silhouette 100,000 × 1,280 (the bar: under 60 s; CPU seconds beside the wall time)"
if [[ $QUICK == 1 ]]; then
  echo "(skipped with --quick: about 70 CPU-seconds per core)"
else
  for e in "${ENVS[@]}"; do run "$e" "$BENCH" metrics --rows 100000 --dim 1280 --seed 1 --spread 1 --repeat 1; done
fi

echo "## 64 queries on 1,000,000 × 512 against numpy and FAISS"
SIZE=1000000x512; [[ $QUICK == 1 ]] && SIZE=200000x512
for e in "${ENVS[@]}"; do run "$e" python3 Scripts/bench_search.py --sizes "$SIZE" --repeat 5; done

echo "## embedscope serve under wrk: 64 connections against one client, 200,000 × 1,280"
if command -v wrk >/dev/null; then
  for e in "" "OPENBLAS_CORETYPE=Prescott" "EMBEDSCOPE_GEMM=openblas"; do
    if [[ $QUICK == 1 ]]; then run "$e" Scripts/bench_serve.sh --duration 10 --sequential 5
    else run "$e" Scripts/bench_serve.sh; fi
  done
else
  echo "(wrk not installed: Scripts/setup.sh installs it)"
fi
