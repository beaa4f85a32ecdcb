#!/usr/bin/env bash
# Load test of `embedscope serve` (issue 11): wrk on loopback against a 200,000 × 1,280 index.
#
#   Scripts/bench_serve.sh [--rows 200000] [--dim 1280] [--duration 30] [--connections 64] [--sequential 10]
#
# 1. Makes a seeded index outside the repository (${BENCH_SERVE_DIR:-${TMPDIR:-/tmp}/embedscope-bench-serve}):
#    unit Gaussian rows (numpy, seed 0), 10 classes, imported with `embedscope import --no-pixels`.
#    Reused when it exists.
# 2. Starts the release `embedscope serve` on 127.0.0.1 (a free port) with that folder.
# 3. wrk, 64 connections (2 threads) for 30 s on GET /api/indexes/bench/query?row=R&k=10, a new
#    random row per request (a Lua script), then one connection (wrk -t1 -c1) for 10 s: prints
#    requests/s, p50 / p99 latency and errors of each, and their ratio (must be ≥ 5, zero errors).
# 4. Checks 8 seeded rows: the API's JSON equals `embedscope query … --json` (same rows, ranks,
#    paths, classes; scores within 1e-5).
# Needs: wrk (Debian), curl, python3 with numpy (Scripts/setup.sh --bench), a release build
# (`swift build -c release`; built here if missing). The environment is passed through
# unchanged: prefix OPENBLAS_CORETYPE=Prescott or EMBEDSCOPE_GEMM=openblas to measure those.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=200000 DIM=1280 DURATION=30 CONNECTIONS=64 SEQUENTIAL=10
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --dim) DIM=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --sequential) SEQUENTIAL=$2; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk is missing: run Scripts/setup.sh" >&2; exit 1; }
BIN=.build/release/embedscope
[ -x "$BIN" ] || swift build -c release --product embedscope
DIR=${BENCH_SERVE_DIR:-${TMPDIR:-/tmp}/embedscope-bench-serve}
DATA=$DIR/data-${ROWS}x${DIM}
SERVED=$DIR/indexes-${ROWS}x${DIM}
INDEX=$SERVED/bench
mkdir -p "$DATA" "$SERVED"

if [ ! -e "$INDEX/current" ] && [ ! -s "$DATA/rows.csv" ]; then
  echo "making $ROWS × $DIM unit rows (seed 0) in $DATA"
  python3 - "$DATA" "$ROWS" "$DIM" <<'EOF'
import sys
import numpy as np
out, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
g = np.random.default_rng(0)
x = np.lib.format.open_memmap(f"{out}/X.npy", mode="w+", dtype=np.float32, shape=(n, d))
for s in range(0, n, 20000):
    b = g.standard_normal((min(20000, n - s), d), dtype=np.float32)
    x[s:s + len(b)] = b / np.linalg.norm(b, axis=1, keepdims=True)
x.flush()
classes = g.integers(0, 10, size=n)
with open(f"{out}/rows.csv", "w") as f:
    f.write("path,class\n")
    for i in range(n):
        f.write(f"img/{i:07d}.png,class{classes[i]}\n")
EOF
fi
if [ ! -e "$INDEX/current" ]; then
  echo "importing into $INDEX"
  "$BIN" import --vectors "$DATA/X.npy" --manifest "$DATA/rows.csv" --out "$INDEX" --no-pixels
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=$DIR/serve.log
"$BIN" serve "$SERVED" --host 127.0.0.1 --port "$PORT" --quiet 2>"$LOG" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true' EXIT
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$BASE/api/indexes" >/dev/null && break; sleep 0.2; done
curl -sf "$BASE/api/indexes/bench/query?row=0&k=10" >/dev/null   # opens the index and maps the vectors

LUA=$DIR/query.lua
cat >"$LUA" <<EOF
-- A new random row per request; each wrk thread seeds from its own id.
local rows = $ROWS
local counter = 0
function setup(thread) counter = counter + 1; thread:set("id", counter) end
function init(args) math.randomseed(1000 + (id or 0)) end
function request() return wrk.format("GET", "/api/indexes/bench/query?row=" .. math.random(0, rows - 1) .. "&k=10") end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
EOF

result() { grep '^RESULT' | tail -1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
echo "== $(date -u +%F\ %H:%M) UTC; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" info --system 2>/dev/null || true
echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>} EMBEDSCOPE_GEMM=${EMBEDSCOPE_GEMM:-<unset>}"
echo "== wrk -t2 -c$CONNECTIONS -d${DURATION}s --timeout 10s (rows varied per request)"
OUT=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency -s "$LUA" "$BASE/"); echo "$OUT"
MANY=$(echo "$OUT" | result)
echo "== wrk -t1 -c1 -d${SEQUENTIAL}s (one client, sequential)"
OUT=$(wrk -t1 -c1 -d"${SEQUENTIAL}s" --timeout 10s --latency -s "$LUA" "$BASE/"); echo "$OUT"
ONE=$(echo "$OUT" | result)
echo "many: $MANY"
echo "one:  $ONE"
RATIO=$(python3 -c "print(f'{$(echo "$MANY" | field rps) / $(echo "$ONE" | field rps):.2f}')")
ERRORS=$(( $(echo "$MANY" | field errors) + $(echo "$ONE" | field errors) ))
echo "throughput ratio (64 connections / one client): ${RATIO}×; errors: $ERRORS"

echo "== 8 seeded rows: API JSON vs embedscope query --json"
CHECK=0
python3 - "$BIN" "$INDEX" "$BASE" "$ROWS" <<'EOF' || CHECK=1
import json, subprocess, sys, urllib.request
import numpy as np
binary, index, base, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
bad = 0
for row in np.random.default_rng(7).integers(0, n, size=8):
    api = json.load(urllib.request.urlopen(f"{base}/api/indexes/bench/query?row={row}&k=10"))["results"]
    cli = json.loads(subprocess.run([binary, "query", index, "--row", str(row), "-k", "10", "--json"],
                                    check=True, capture_output=True, text=True).stdout)["results"]
    same = len(api) == len(cli) == 10 and all(
        (a["rank"], a["row"], a["path"], a["class"]) == (c["rank"], c["row"], c["path"], c["class"])
        and abs(a["score"] - c["score"]) <= 1e-5 for a, c in zip(api, cli))
    print(f"row {row}: {'identical' if same else 'DIFFERENT'}")
    bad += not same
sys.exit(1 if bad else 0)
EOF
python3 -c "import sys; sys.exit(0 if $RATIO >= 5 and $ERRORS == 0 else 1)" \
  && echo "PASS: ${RATIO}× ≥ 5×, zero errors, results identical to the CLI" \
  || { echo "FAIL: ratio ${RATIO}× (need ≥ 5×) or $ERRORS errors"; exit 1; }
exit $CHECK
