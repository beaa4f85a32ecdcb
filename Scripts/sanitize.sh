#!/usr/bin/env bash
# The test suite under a sanitizer: ThreadSanitizer (data races between the forward pass's
# helpers, the build pipeline's stages, the scorer's threads) or AddressSanitizer (reads and
# writes outside an allocation, in the C kernels as much as in Swift). Each sanitizer builds
# into its own scratch directory (.build-thread, .build-address; ~5 minutes from clean on
# 2 cores) and runs the tests 2–10× slower, so CI runs only the threaded suites under
# ThreadSanitizer (Scripts/test.sh); run the rest here before changing threads or kernels.
#
#   Scripts/sanitize.sh thread  [--filter REGEX]    default: the suites that run threads
#   Scripts/sanitize.sh address [--filter REGEX]    default: every EmbedScopeTests suite
#   Scripts/sanitize.sh thread --ci                 as CI runs it (below)
#   Scripts/sanitize.sh fuzz [embedscope-fuzz options, e.g. --inputs 200 --seed 7]
#                                                   the fuzz pass (Scripts/fuzz.sh) on the
#                                                   AddressSanitizer binary: a read outside an
#                                                   allocation aborts it, counted as a crash
#
# Any report fails the run (exit code 66), as does any failing test. With --ci, a sanitizer
# runtime that cannot start on this machine (a kernel whose address-space layout it does not
# support: "FATAL: ThreadSanitizer …") is reported and skipped instead of failing CI; a report
# of a race still fails.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
shift || true
case "$kind" in
  thread)
    filter='EmbedScopeTests\.(ModelTests|BLASThreadsTests|BuildPipelineTests|ScorerTests|IndexGenerationTests|BatchQueryTests|ClusterMetricsTests|ProjectionTests)\b'
    # halt_on_error: the first race ends the run with exit code 66 and its report.
    export TSAN_OPTIONS="halt_on_error=1:exitcode=66:report_signal_unsafe=0${TSAN_OPTIONS:+:$TSAN_OPTIONS}" ;;
  address)
    filter='EmbedScopeTests'
    # Swift's runtime keeps some allocations to the end of the process: leaks are not errors here.
    export ASAN_OPTIONS="detect_leaks=0:exitcode=66${ASAN_OPTIONS:+:$ASAN_OPTIONS}" ;;
  fuzz)
    swift build --sanitize=address --scratch-path .build-address --product embedscope
    swift build --sanitize=address --scratch-path .build-address --product EmbedScopeFuzz
    bin=$(swift build --sanitize=address --scratch-path .build-address --show-bin-path)
    # abort_on_error: a report ends the process with SIGABRT, which the harness counts.
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    exec "$bin/EmbedScopeFuzz" --binary "$bin/embedscope" --timeout 60 --strict-answers "$@" ;;
  *) echo "usage: Scripts/sanitize.sh thread|address [--filter REGEX] | fuzz [options]" >&2; exit 2 ;;
esac
ci=0
if [[ "${1:-}" == "--ci" ]]; then ci=1; shift; fi
if [[ "${1:-}" == "--filter" && -n "${2:-}" ]]; then filter=$2; shift 2; fi
scratch=".build-$kind"
swift build --build-tests --sanitize="$kind" --scratch-path "$scratch"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
swift test --skip-build --disable-swift-testing --sanitize="$kind" --scratch-path "$scratch" --filter "$filter" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if grep -q -E "WARNING: ThreadSanitizer|ERROR: AddressSanitizer" "$log"; then
  echo "sanitize.sh: $kind sanitizer reported (above)" >&2
  exit 66
fi
if [[ $status -ne 0 && $ci -eq 1 ]] && grep -q -E "FATAL: (ThreadSanitizer|AddressSanitizer)" "$log" \
   && ! grep -q -E "Test Case '.*' failed" "$log"; then
  echo "sanitize.sh: the $kind sanitizer cannot run on this machine (above); skipped" >&2
  exit 0
fi
exit "$status"
