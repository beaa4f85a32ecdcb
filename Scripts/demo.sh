#!/usr/bin/env bash
# The main job on the embedded default: set up, build (release), run `embedscope demo`.
# Fashion-MNIST comes from the Debian package dataset-fashion-mnist; nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
echo "demo: building embedscope (release; the first build takes a few minutes)" >&2
swift build -c release --product embedscope >&2
exec .build/release/embedscope demo "$@"
