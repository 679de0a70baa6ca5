#!/usr/bin/env bash
# Installs what segc needs on a fresh Debian 12 (as root, or with sudo), then configures and builds
# it in ./build. Used by the README's first command and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
    build-essential meson ninja-build pkg-config \
    libopenblas-openmp-dev libstb-dev check zlib1g-dev \
    clang libclang-rt-14-dev
[ -d build ] || meson setup build
ninja -C build
