#!/usr/bin/env bash
# The test command (README.md; .ci/run calls it): installs system packages if missing, runs the
# whole test suite (debug), then the shipped configuration: builds release, runs the CLI tests
# against the release binary (EMBEDSCOPE_CLI), and the short seeded fuzz pass on it.
# Tests need no Python and no network.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift build --build-tests
# XCTest only: a Swift Testing run with no tests would print "0 tests" as the last line.
swift test --skip-build --disable-swift-testing "$@"
if [[ $# -eq 0 ]]; then
    swift build -c release --product embedscope
    EMBEDSCOPE_CLI="$PWD/.build/release/embedscope" swift test --skip-build --disable-swift-testing \
        --filter 'EmbedScopeTests\.(CLI[A-Za-z]*Tests|TrustTests|TrustModelTests)'
    Scripts/fuzz.sh
fi
