#!/usr/bin/env bash
# The test command (README, .ci/run): makes the transformers reference dumps the real-model tests
# compare against (once; they go to models/reference/), then runs the whole Swift test suite.
# Needs tools/setup.sh first (model, SST-2, Python tools).
set -euo pipefail
cd "$(dirname "$0")/.."
# Absolute: the CLI tests run the binary from a scratch folder, where a relative path would not resolve.
SST2="$(cd "${SST2_DIR:-data/sst2}" 2>/dev/null && pwd || echo "${SST2_DIR:-data/sst2}")"

# The resume tests write whole Gemma-3-270M run folders (weights and AdamW moments, ~8.5 GB at once)
# under $TMPDIR. On a fuller disk they fail late with "No space left on device": say it first.
free_gb=$(df -Pk "${TMPDIR:-/tmp}" | awk 'NR == 2 { printf "%d", $4 / 1048576 }')
if (( free_gb < 12 )); then
    echo "warning: ${free_gb} GB free in ${TMPDIR:-/tmp}; the tests need about 12 GB (the resume tests' run folders)" >&2
fi

if [[ ! -f models/reference/gemma-3-270m-sst2-dev20.safetensors || ! -f models/reference/gemma-3-270m-sst2-dev-zeroshot.json ]]; then
    echo "== transformers reference for Gemma-3-270M on SST-2 dev (once, ~2-5 min)" >&2
    mkdir -p models/reference
    python3 tools/reference/reference_real_model.py --model models/gemma-3-270m --data "$SST2" \
        --out models/reference/gemma-3-270m-sst2-dev20.safetensors \
        --predictions models/reference/gemma-3-270m-sst2-dev-zeroshot.json
fi

if [[ ! -f models/reference/gemma-3-270m-sst2-token-ids.json ]]; then
    echo "== transformers token ids for SST-2 dev + 5,000 train (once, ~15 s)" >&2
    python3 tools/reference/reference_token_ids.py --model models/gemma-3-270m --data "$SST2" \
        --out models/reference/gemma-3-270m-sst2-token-ids.json
fi

if [[ ! -f models/reference/gemma-3-270m-sst2-grads.safetensors ]]; then
    echo "== transformers gradient of the SST-2 candidate loss on one batch (once, ~1 min)" >&2
    python3 tools/reference/reference_real_gradients.py --model models/gemma-3-270m --data "$SST2" --repeats 1
fi

if [[ ! -f models/reference/gemma-3-270m-multitoken-logprobs.json ]]; then
    echo "== transformers log-probabilities of multi-token candidates after 20 SST-2 prompts (once, ~1-2 min)" >&2
    python3 tools/reference/reference_multitoken.py --model models/gemma-3-270m --data "$SST2" \
        --out models/reference/gemma-3-270m-multitoken-logprobs.json
fi

if [[ ! -f models/reference/gemma-3-270m-task-grads.safetensors ]]; then
    echo "== transformers losses and gradients of the completion and multi-token classify losses, 4 SST-2 examples (once, ~2 min)" >&2
    python3 tools/reference/reference_task_gradients.py --model models/gemma-3-270m --data "$SST2" \
        --out models/reference/gemma-3-270m-task-grads.safetensors
fi

if [[ ! -f models/reference/minilm_token_ids.json ]]; then
    echo "== transformers BertTokenizer ids of SST-2 dev + 5,000 train for all-MiniLM-L6-v2 (once, ~5 s)" >&2
    python3 tools/reference/reference_encoder_token_ids.py --model models/all-minilm-l6-v2 --data "$SST2" \
        --out models/reference/minilm_token_ids.json
fi

if [[ ! -f models/reference/minilm_dev_embeddings.safetensors || ! -f models/reference/minilm_sst2_zeroshot.json ]]; then
    echo "== sentence-transformers embeddings and zero-shot predictions of all-MiniLM-L6-v2 on SST-2 dev (once, ~40 s)" >&2
    python3 tools/reference/reference_encoder.py --model models/all-minilm-l6-v2 --data "$SST2" \
        --out models/reference/minilm_dev_embeddings.safetensors \
        --zero-shot models/reference/minilm_sst2_zeroshot.json
fi

if [[ ! -f models/reference/minilm_sst2_grads.safetensors ]]; then
    echo "== PyTorch gradient of the all-MiniLM-L6-v2 label-description loss on one SST-2 batch (once, ~10 s)" >&2
    python3 tools/reference/reference_encoder_gradients.py --model models/all-minilm-l6-v2 --data "$SST2" \
        --out models/reference/minilm_sst2_grads.safetensors
fi

if [[ ! -f models/reference/gemma-3-270m-sst2-lora.safetensors || ! -f models/reference/minilm-sst2-lora.safetensors ]]; then
    echo "== peft LoRA losses and adapter gradients on one SST-2 batch, Gemma-3-270M and all-MiniLM-L6-v2 (once, ~1 min)" >&2
    python3 tools/reference/reference_lora.py gemma --model models/gemma-3-270m --data "$SST2" \
        --out models/reference/gemma-3-270m-sst2-lora.safetensors
    python3 tools/reference/reference_lora.py minilm --model models/all-minilm-l6-v2 --data "$SST2" \
        --out models/reference/minilm-sst2-lora.safetensors
fi

if [[ ! -f models/reference/gemma-3-270m-sst2-prefix.safetensors || ! -f models/reference/minilm-sst2-prefix.safetensors ]]; then
    echo "== peft prefix-tuning losses and prefix gradients on one SST-2 batch, Gemma-3-270M and all-MiniLM-L6-v2 (once, ~1 min)" >&2
    python3 tools/reference/reference_prefix.py gemma --model models/gemma-3-270m --data "$SST2" \
        --out models/reference/gemma-3-270m-sst2-prefix.safetensors
    python3 tools/reference/reference_prefix.py minilm --model models/all-minilm-l6-v2 --data "$SST2" \
        --out models/reference/minilm-sst2-prefix.safetensors
fi

for instruct in smollm2-135m-instruct qwen2.5-coder-0.5b-instruct; do
    if [[ -f models/$instruct/tokenizer_config.json && ! -f models/reference/chat-$instruct.json ]]; then
        echo "== transformers apply_chat_template ids of 200 conversations for $instruct (once, ~15 s)" >&2
        python3 tools/reference/reference_chat_ids.py --model models/$instruct --out models/reference/chat-$instruct.json
    fi
done
if [[ -f models/smollm2-135m-instruct/model.safetensors && ! -f models/reference/chat-smollm2-135m-instruct-loss.safetensors ]]; then
    echo "== transformers chat loss and gradient (assistant-mask labels), SmolLM2-135M-Instruct, 4 conversations (once, ~1 min)" >&2
    python3 tools/reference/reference_chat_loss.py models/smollm2-135m-instruct models/reference/chat-smollm2-135m-instruct-loss.safetensors
fi
if [[ ! -f models/reference/chat-bpe-qwen2.json ]]; then
    echo "== transformers apply_chat_template ids of 200 conversations, the Qwen2.5 template over the Qwen2-style BPE fixture (once, ~20 s)" >&2
    python3 tools/reference/reference_chat_ids.py --model Tests/Fixtures/bpe-qwen2 \
        --template Tests/Fixtures/chat-templates/qwen2.5-instruct.jinja --out models/reference/chat-bpe-qwen2.json
fi
if [[ ! -f models/reference/chat-gemma-3-270m.json ]]; then
    echo "== transformers apply_chat_template ids of 200 conversations, Gemma-3 with its instruct template (once, ~20 s)" >&2
    python3 tools/reference/reference_chat_ids.py --model models/gemma-3-270m --template Tests/Fixtures/chat-templates/gemma3-it.jinja \
        --out models/reference/chat-gemma-3-270m.json
fi

if [[ ! -f models/reference/bpe-gpt2-sst2-token-ids.json || ! -f models/reference/bpe-llama3-sst2-token-ids.json || ! -f models/reference/bpe-qwen2-sst2-token-ids.json || ! -f models/reference/bpe-smollm-sst2-token-ids.json ]]; then
    echo "== transformers ids of SST-2 dev + 5,000 train for the byte-level BPE fixtures (once, ~3 s)" >&2
    python3 tools/reference/make_bpe_reference.py reference --data "$SST2" --out models/reference
fi

export SST2_DIR="$SST2"
swift test -c release -Xswiftc -enable-testing

# Bring-your-own-model folders (tokenizer.json): train, export, reload in transformers (~30 s).
tools/check/check_bpe_export.sh

# Every fuzz target 10 s under AddressSanitizer (~3 min with its build): fails on any crashing input.
# Long runs: tools/check/fuzz.sh (30 min per target by default).
tools/check/fuzz.sh --seconds 10
