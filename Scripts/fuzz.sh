#!/usr/bin/env bash
# Fuzz the release binary: mutate seeded valid inputs (vector files, catalog.sqlite, .npy,
# manifest CSV, PNG, JPEG, legacy pickle .pt, zip .pt/.ckpt, a half copy, metrics.json, IDX data
# set files) and run `embedscope` on each (info/query/rank/verify/metrics/compare, import, build,
# query --image, checkpoint, dataset fashion-mnist --source). Counts crashes
# (killed by a signal), hangs (> 10 s), exit-0 outputs printing nan/inf, and — for damaged index
# files (vec, catalog, half copy, metrics.json) — exit-0 answers other than the intact index's
# (numbers within 1e-4; `--strict-answers`, passed here); exit 1 if any.
#
#   Scripts/fuzz.sh            short seeded pass for CI (40 inputs per format, ~1–2 min)
#   Scripts/fuzz.sh --long     long pass for people (1,000 inputs per format, seed from $FUZZ_SEED or 1)
#   Scripts/fuzz.sh --inputs 200 --seed 7 --formats npy,zip    any embedscope-fuzz options
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
if [[ "${1:-}" == "--long" ]]; then
    shift
    args=(--inputs 1000 --seed "${FUZZ_SEED:-1}")
fi
swift build -c release --product embedscope
swift build -c release --product EmbedScopeFuzz
exec .build/release/EmbedScopeFuzz --binary .build/release/embedscope --timeout 10 --strict-answers "${args[@]}" "$@"
