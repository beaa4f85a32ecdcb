#!/usr/bin/env bash
# The test command (README.md; .ci/run calls it): installs system packages if missing, then
# runs the whole test suite. Tests need no Python and no network.
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

# Last, so its summary closes the output.
# XCTest only: a Swift Testing run with no tests would print "0 tests" as the last line.
swift test --skip-build --disable-swift-testing "$@"
