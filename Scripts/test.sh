#!/usr/bin/env bash
# The test command (README.md; .ci/run calls it): installs system packages if missing, runs the
# whole test suite (debug), then the shipped configuration: builds release, runs the CLI tests
# against the release binary (EMBEDSCOPE_CLI), and the short seeded fuzz pass on it; then the
# threaded suites under ThreadSanitizer (Scripts/sanitize.sh).
# Tests need no Python and no network.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift build --build-tests
# The example package: EmbedScope as a dependency, public API only (the getting-started listing),
# run on the committed v1 index. It must print 3 neighbours, 2 ranked rows and the metrics.
swift build --package-path Tests/ExamplePackage
out=$(Tests/ExamplePackage/.build/debug/Example Tests/EmbedScopeTests/Fixtures/index-v1 a)
echo "$out"
[ "$(grep -c '^near ' <<<"$out")" -eq 3 ] && [ "$(grep -c '^rank ' <<<"$out")" -eq 2 ] && grep -q '^silhouette ' <<<"$out" \
  || { echo "example package: unexpected output" >&2; exit 1; }

# The shipped configuration: the CLI tests against the release binary, then the short seeded
# fuzz pass on it (any crash, hang or nan printed with exit 0 fails). Skipped when arguments
# (e.g. --filter) are given.
if [[ $# -eq 0 ]]; then
    swift build -c release --product embedscope
    EMBEDSCOPE_CLI="$PWD/.build/release/embedscope" swift test --skip-build --disable-swift-testing \
        --filter 'EmbedScopeTests\.(CLI[A-Za-z]*Tests|TrustTests|TrustModelTests)'
    Scripts/fuzz.sh
    # The suites that run threads (forward-pass helpers, build pipeline, scorer, silhouette,
    # index generations) again under ThreadSanitizer, in their own build directory
    # (.build-thread): any data race fails. ~5 min to build, ~5 min to run on 2 cores.
    Scripts/sanitize.sh thread --ci
fi

# Last, so its summary closes the output.
# XCTest only: a Swift Testing run with no tests would print "0 tests" as the last line.
swift test --skip-build --disable-swift-testing "$@"
