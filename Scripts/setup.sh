#!/usr/bin/env bash
# Installs everything EmbedScope needs on a fresh Debian machine of this kind. Idempotent:
# packages already present are skipped, so a second run costs a few seconds.
#   Scripts/setup.sh            system packages (build + run + demo data)
#   Scripts/setup.sh --bench    also the Python reference tools used by benchmarks and fixtures
set -euo pipefail

APT_PACKAGES=(
  pkg-config
  libopenblas-dev liblapacke-dev   # BLAS / LAPACK
  libsqlite3-dev                   # catalog (GRDB links the system SQLite)
  libpng-dev libjpeg-dev zlib1g-dev
  dataset-fashion-mnist            # the embedded default data set (IDX files)
)
PIP_BENCH=(numpy faiss-cpu scikit-learn pillow)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: system packages present" >&2
fi

if [[ "${1:-}" == "--bench" ]]; then
  python3 -m pip install -q "${PIP_BENCH[@]}"
fi
