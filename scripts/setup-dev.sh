#!/usr/bin/env bash
# Create .venv with the pinned set (requirements/lock-dev.txt: the backend's lock.txt plus the
# test extra and the developer tools' dependencies; refresh both with `python installer/lock.py`),
# the backend editable and the developer tools (tools/: `repaint-fill bench` and `train`)
# editable. The installer installs the backend only.
# TORCH_SPEC overrides the torch requirement (e.g. a CUDA build on a GPU machine); the lock's
# torch==X admits any build of that version.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -c requirements/lock-dev.txt "${TORCH_SPEC:-torch==2.13.0}" \
    -e '.[test]' -e ./tools
# OpenAI's MIT guided-diffusion code, only to check our own UNet against it in one test;
# --no-deps keeps it from touching the pinned torch.
python -m pip install --quiet --no-deps guided-diffusion-sdk==1.0.0
python -c "import torch, diffusers, repaint_fill_backend, repaint_fill_tools; print('torch', torch.__version__, '| diffusers', diffusers.__version__)"
