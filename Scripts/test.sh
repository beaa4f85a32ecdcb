#!/usr/bin/env bash
# The test command (README.md; .ci/run calls it): installs system packages if missing, then
# runs the whole test suite. Tests need no Python and no network.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
