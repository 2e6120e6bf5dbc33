#!/usr/bin/env bash
# A fine-tuned run exported to GGUF and checked on the whole SST-2 dev set: a short MeZO run on
# Gemma-3-270M (or RUN=an existing one), `eval --run` predictions, `export --format gguf` as f32, f16
# and q8_0, then tools/check/check_gguf.py loads each GGUF in transformers and compares its predictions with
# the engine's (f32 and f16: at least 99.5% agreement; q8_0: agreement reported). (llama.cpp itself could not be
# built on the 2 shared cores of the project machine within 25 minutes, so it is not scored here.)
#
#   tools/check/check_gguf_sst2.sh OUT_DIR [STEPS (50)]      (MODEL, SST2_DIR, RUN, NICE may be set)
set -euo pipefail
out=${1:?usage: tools/check/check_gguf_sst2.sh OUT_DIR [STEPS]}
steps=${2:-50}
model=${MODEL:-models/gemma-3-270m}
data=${SST2_DIR:-data/sst2}
z=".build/release/zofinetune"
nice_cmd="nice -n ${NICE:-10}"
mkdir -p "$out"
run=${RUN:-$out/run}
if [ ! -f "$run/run.json" ]; then
    $nice_cmd $z train --model "$model" --task sst2 --data "$data" --steps "$steps" --train-examples 1000 --eval-every 0 --out "$run"
fi
[ -f "$out/engine-predictions.jsonl" ] || $nice_cmd $z eval --model "$model" --run "$run" --at last --task sst2 --data "$data" --split dev \
    --predictions-out "$out/engine-predictions.jsonl" --json > "$out/engine-eval.json"
for type in f32 f16 q8_0; do
    [ -f "$out/model-$type.gguf" ] || $nice_cmd $z export --model "$model" --run "$run" --at last --format gguf --type $type --out "$out/model-$type.gguf"
    min=0.995; [ $type = q8_0 ] && min=0
    $nice_cmd python3 tools/check/check_gguf.py --gguf "$out/model-$type.gguf" --base "$model" --data "$data" \
        --predictions "$out/engine-predictions.jsonl" --min-agreement $min --json > "$out/check-$type.json"
done
ls -la "$out"
