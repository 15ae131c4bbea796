#!/usr/bin/env bash
# Real hosts for the host test tier (needs root): Krita 5 + Xvfb from Debian, and GIMP 3 in a
# Debian trixie chroot that is built once and cached outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq krita xvfb xauth python3-pyqt5 python3-pytest libegl1 libgl1 \
    libxkbcommon-x11-0 debootstrap >/dev/null
bash tests/hosts/gimp_chroot.sh build
