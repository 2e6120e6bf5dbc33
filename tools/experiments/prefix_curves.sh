#!/usr/bin/env bash
# Short SST-2 dev curves of prefix tuning (issue 14): MeZO-prefix and prefix-AdamW on Gemma-3-270M and
# all-MiniLM-L6-v2, the MeZO paper's settings (5 prefix tokens started from real activations; MeZO
# lr 1e-2, eps 1e-1; AdamW lr 1e-2), default recipe otherwise (1,000 train examples, batch 16, seed 0).
# Each run is capped by its step count to ~10 minutes on 2 shared cores; prints one table line per evaluation.
#
#   tools/experiments/prefix_curves.sh [OUT_DIR] [stage...]      stages: gemma-mezo gemma-adamw minilm-mezo minilm-adamw
#
# Environment: SST2_DIR (default data/sst2), GEMMA_STEPS (300), GEMMA_ADAMW_STEPS (100), MINILM_STEPS (500),
# MINILM_ADAMW_STEPS (100), GEMMA_DEV (300 dev examples per evaluation; MiniLM uses all 872).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-runs/prefix-curves}"; shift || true
STAGES=("$@"); [[ ${#STAGES[@]} -eq 0 ]] && STAGES=(minilm-mezo minilm-adamw gemma-mezo gemma-adamw)
SST2="${SST2_DIR:-data/sst2}"
BIN=.build/release/zofinetune
mkdir -p "$OUT"

run() {   # name model steps eval_every eval_examples extra...
    local name=$1 model=$2 steps=$3 every=$4 examples=$5; shift 5
    local dir="$OUT/$name"
    rm -rf "$dir"
    local evalopt=(); [[ "$examples" != all ]] && evalopt=(--eval-examples "$examples")
    local start=$SECONDS
    nice -n 10 "$BIN" train --model "$model" --task sst2 --data "$SST2" --peft prefix --steps "$steps" --train-examples 1000 \
        --eval-every "$every" "${evalopt[@]}" --out "$dir" "$@" --json > "$dir.summary.json" 2> "$dir.log" || { echo "$name failed: see $dir.log"; return; }
    python3 - "$dir" "$name" $((SECONDS - start)) <<'PY'
import json, sys
d, name, secs = sys.argv[1], sys.argv[2], sys.argv[3]
evals = [json.loads(l) for l in open(d + "/log.jsonl") if '"eval"' in l]
curve = "  ".join(f"{e['step']}: {100 * e['accuracy']:.2f}%" for e in evals if e.get("type") == "eval")
print(f"{name:14s} {curve}   ({secs} s)")
PY
}

for stage in "${STAGES[@]}"; do
    case "$stage" in
    gemma-mezo)   run gemma-mezo models/gemma-3-270m "${GEMMA_STEPS:-300}" 50 "${GEMMA_DEV:-300}" --lr 1e-2 --eps 1e-1 ;;
    gemma-adamw)  run gemma-adamw models/gemma-3-270m "${GEMMA_ADAMW_STEPS:-100}" 25 "${GEMMA_DEV:-300}" --optimizer adamw --lr 1e-2 ;;
    minilm-mezo)  run minilm-mezo models/all-minilm-l6-v2 "${MINILM_STEPS:-500}" 100 all --lr 1e-2 --eps 1e-1 ;;
    minilm-adamw) run minilm-adamw models/all-minilm-l6-v2 "${MINILM_ADAMW_STEPS:-100}" 25 all --optimizer adamw --lr 1e-2 ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
    esac
done
