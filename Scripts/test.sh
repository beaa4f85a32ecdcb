#!/usr/bin/env bash
# The test command (README.md; .ci/run calls it): installs system packages if missing, then
# runs the whole test suite. Tests need no Python and no network.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift build --build-tests
# XCTest only: a Swift Testing run with no tests would print "0 tests" as the last line.
swift test --skip-build --disable-swift-testing "$@"
