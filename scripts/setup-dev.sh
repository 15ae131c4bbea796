#!/usr/bin/env bash
# Create .venv with the pinned CPU torch and the project (editable) with its test extras.
# TORCH_SPEC overrides the torch requirement (e.g. a CUDA build on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "${TORCH_SPEC:-torch==2.13.0}"
python -m pip install --quiet -e '.[test,bench]'
# OpenAI's MIT guided-diffusion code, only to check our own UNet against it in one test;
# --no-deps keeps it from touching the pinned torch.
python -m pip install --quiet --no-deps guided-diffusion-sdk==1.0.0
python -c "import torch, diffusers, repaint_fill_backend; print('torch', torch.__version__, '| diffusers', diffusers.__version__)"
