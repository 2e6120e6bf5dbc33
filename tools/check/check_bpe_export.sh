#!/usr/bin/env bash
# End to end for "bring your own model" folders (tokenizer.json, no tokenizer.model): for a tiny
# random qwen3 with the Qwen2 byte-level vocabulary and a tiny Llama-3-rope model with the Llama 3
# one (Tests/Fixtures/tiny-*-bpe + bpe-*, see tools/fixtures/make_bpe_model_fixtures.py), assemble the model
# folder, train 5 MeZO steps on SST-2, export, evaluate the export with zofinetune, and check in
# transformers (tools/check/check_export.py) that the export reloads with the expected tensors and gives
# the same predictions. The first 300 dev sentences keep it to a few seconds per model.
#
#   tools/check/check_bpe_export.sh            (after `swift build -c release`; SST2_DIR or data/sst2)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${ZOFINETUNE_BIN:-.build/release/zofinetune}"
SST2="${SST2_DIR:-data/sst2}"
[[ -x "$BIN" ]] || { echo "$BIN not built; run swift build -c release" >&2; exit 1; }
work=$(mktemp -d /tmp/zf-bpe-export.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/data"
head -n 301 "$SST2/dev.tsv" > "$work/data/dev.tsv"
head -n 2001 "$SST2/train.tsv" > "$work/data/train.tsv"

# Runs a command quietly; on failure shows what it printed.
quiet() { "$@" >"$work/out" 2>"$work/err" || { cat "$work/out" "$work/err" >&2; echo "failed: $*" >&2; exit 1; }; }

for pair in tiny-qwen3-bpe:bpe-qwen2 tiny-llama3-bpe:bpe-llama3; do
    name=${pair%%:*} vocabulary=${pair##*:}
    model="$work/$name"
    mkdir -p "$model"
    cp Tests/Fixtures/$name/config.json Tests/Fixtures/$name/model.safetensors "$model/"
    cp Tests/Fixtures/$vocabulary/tokenizer.json Tests/Fixtures/$vocabulary/tokenizer_config.json "$model/"
    echo "== $name ($vocabulary): train 5 MeZO steps, export, eval, reload in transformers" >&2
    quiet "$BIN" train --model "$model" --task sst2 --data "$work/data" --steps 5 --batch-size 8 --train-examples 64 \
        --eval-every 0 --lr 1e-3 --out "$work/$name-run"
    quiet "$BIN" export --model "$model" --run "$work/$name-run" --out "$work/$name-export"
    quiet "$BIN" eval --model "$work/$name-export" --task sst2 --data "$work/data" --split dev \
        --predictions-out "$work/$name-predictions.json"
    python3 tools/check/check_export.py --exported "$work/$name-export" --predictions "$work/$name-predictions.json" \
        --data "$work/data" --min-agreement 1.0 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    tail -n 1 "$work/err" >&2
done
