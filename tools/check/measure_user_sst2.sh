#!/usr/bin/env bash
# SST-2 posed as a user would bring it (issue 10's "Done when" measurements), rerunnable:
#
#   tools/check/measure_user_sst2.sh [STAGE...]        (default: every stage, in this order)
#
#   data            runs/user-sst2/data: train/dev as JSONL {"review", "sentiment": "positive"|"negative"},
#                   the same dev as CSV (every field quoted; 481 reviews hold commas) in data-csv/,
#                   and the two task files below
#   classify        own template + two-token / alternative label words (tasks/sentiment.json):
#                   zero-shot on all of dev, MeZO 150 steps (lr 1e-5) with the first 300 dev reviews
#                   every 50 steps, then the best weights on all of dev
#   csv             zero-shot on the CSV dev: predictions and scores compared with the JSONL's
#   complete-mezo   SST-2 as a completion (tasks/sentiment-complete.json, target " positive" /
#                   " negative"): MeZO 300 steps (lr 1e-6), greedy exact match on the first 200 dev
#                   every 100 steps, then best weights on all of dev
#   complete-adamw  the same task with AdamW (lr 1e-5) 150 steps, dev every 50 steps
#   accuracy        built-in sst2 with --objective accuracy (MeZO, lr 1e-5, 100 steps; first 300
#                   dev every 25), then the best weights on all of dev
#
# Smaller runs for a busy machine, by environment: COMPLETE_MEZO_STEPS (300), COMPLETE_ADAMW_STEPS
# (150), COMPLETE_EVAL_EVERY (MeZO 100, AdamW 50), COMPLETE_EVAL_N (200), CLASSIFY_STEPS (150),
# ACCURACY_STEPS (100), FINAL_LIMIT (the final evaluations' dev examples; default all).
# Every command runs under `nice -n 10` (the machine may be shared); each stage appends JSON lines
# to runs/user-sst2/results.jsonl. Needs the release build, models/gemma-3-270m and SST-2 (data/sst2
# or $SST2_DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."
SST2="${SST2_DIR:-data/sst2}"
OUT="${OUT:-runs/user-sst2}"
MODEL="${MODEL:-models/gemma-3-270m}"
Z="${ZOFINETUNE:-.build/release/zofinetune}"
THREADS="${THREADS:-2}"
RESULTS="$OUT/results.jsonl"
mkdir -p "$OUT"

record() {   # record STAGE JSON: one line {"stage": ..., ...}
    python3 -c 'import json,sys; o=json.loads(sys.argv[2]); o["stage"]=sys.argv[1]; print(json.dumps(o))' "$1" "$2" | tee -a "$RESULTS" >&2
}

run() { nice -n 10 "$Z" "$@" --threads "$THREADS"; }
LIMIT=()
[[ -z "${FINAL_LIMIT:-}" ]] || LIMIT=(--limit "$FINAL_LIMIT")

stage_data() {
    mkdir -p "$OUT/data" "$OUT/data-csv" "$OUT/tasks"
    python3 - "$SST2" "$OUT" <<'EOF'
import csv, json, os, sys
sst2, out = sys.argv[1], sys.argv[2]
def rows(name):
    with open(os.path.join(sst2, name), newline="", encoding="utf-8") as f:
        table = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = [h.strip().lower() for h in table[0]]
    text = next(header.index(c) for c in ("sentence", "content", "text") if c in header)
    label = header.index("label")
    return [(r[text].strip(), "positive" if r[label].strip() == "1" else "negative") for r in table[1:] if r]
for split in ("train", "dev"):
    data = rows(split + ".tsv")
    with open(os.path.join(out, "data", split + ".jsonl"), "w", encoding="utf-8") as f:
        for review, sentiment in data:
            f.write(json.dumps({"review": review, "sentiment": sentiment}) + "\n")
    with open(os.path.join(out, "data-csv", split + ".csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL)
        w.writerow(["review", "sentiment"])
        w.writerows(data)
    print(f"{split}: {len(data)} reviews, {sum(',' in r for r, _ in data)} with commas", file=sys.stderr)
json.dump({"template": "Review: {review}\nThe movie was", "label_column": "sentiment",
           "labels": {"negative": [" really bad", " terrible"], "positive": [" really good", " great"]},
           "metric": "accuracy"}, open(os.path.join(out, "tasks", "sentiment.json"), "w"), indent=1)
json.dump({"template": "Review: {review}\nSentiment:", "objective": "complete", "target_column": "sentiment",
           "max_new_tokens": 2, "stop": ["\n"], "metric": "exact_match"},
          open(os.path.join(out, "tasks", "sentiment-complete.json"), "w"), indent=1)
EOF
}

# evals RUN: the dev evaluations of a run's log as [[step, score], ...]
evals() { python3 -c 'import json,sys; print(json.dumps([[o["step"], o["accuracy"]] for o in map(json.loads, open(sys.argv[1] + "/log.jsonl")) if o["type"] == "eval"]))' "$1"; }

stage_classify() {
    local task="$OUT/tasks/sentiment.json" run="$OUT/classify-mezo"
    record classify-zero-shot "$(run eval --model "$MODEL" --task "$task" --data "$OUT/data" "${LIMIT[@]}" \
        --predictions-out "$OUT/classify-zero-shot.jsonl" --json)"
    rm -rf "$run"
    record classify-mezo-train "$(run train --train-examples 1000 --model "$MODEL" --task "$task" --data "$OUT/data" --steps "${CLASSIFY_STEPS:-150}" \
        --lr 1e-5 --eval-every 50 --eval-examples 300 --out "$run" --json)"
    record classify-mezo-curve "{\"first_300_dev\": $(evals "$run")}"
    record classify-mezo-best "$(run eval --model "$MODEL" --run "$run" --at best --task "$task" --data "$OUT/data" "${LIMIT[@]}" --json)"
}

stage_csv() {
    local task="$OUT/tasks/sentiment.json"
    [[ -f "$OUT/classify-zero-shot.jsonl" ]] || run eval --model "$MODEL" --task "$task" --data "$OUT/data" "${LIMIT[@]}" \
        --predictions-out "$OUT/classify-zero-shot.jsonl" --json > /dev/null
    record csv-zero-shot "$(run eval --model "$MODEL" --task "$task" --dev "$OUT/data-csv/dev.csv" "${LIMIT[@]}" \
        --predictions-out "$OUT/classify-zero-shot-csv.jsonl" --json)"
    record csv-vs-jsonl "$(python3 - "$OUT/classify-zero-shot.jsonl" "$OUT/classify-zero-shot-csv.jsonl" <<'EOF'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
print(json.dumps({"examples": len(a), "same_predictions": sum(x["prediction"] == y["prediction"] for x, y in zip(a, b)),
                  "same_scores_bitwise": sum(x["scores"] == y["scores"] for x, y in zip(a, b)), "equal": a == b or
                  all(x["prediction"] == y["prediction"] and x["scores"] == y["scores"] for x, y in zip(a, b))}))
EOF
)"
}

stage_complete_mezo() {
    local task="$OUT/tasks/sentiment-complete.json" run="$OUT/complete-mezo"
    record complete-zero-shot "$(run eval --model "$MODEL" --task "$task" --data "$OUT/data" "${LIMIT[@]}" --json)"
    rm -rf "$run"
    record complete-mezo-train "$(run train --train-examples 1000 --model "$MODEL" --task "$task" --data "$OUT/data" \
        --steps "${COMPLETE_MEZO_STEPS:-300}" --lr 1e-6 --eval-every "${COMPLETE_EVAL_EVERY:-100}" \
        --eval-examples "${COMPLETE_EVAL_N:-200}" --out "$run" --json)"
    record complete-mezo-curve "{\"first_200_dev_exact_match\": $(evals "$run")}"
    record complete-mezo-best "$(run eval --model "$MODEL" --run "$run" --at best --task "$task" --data "$OUT/data" "${LIMIT[@]}" --json)"
}

stage_complete_adamw() {
    local task="$OUT/tasks/sentiment-complete.json" run="$OUT/complete-adamw"
    rm -rf "$run"
    record complete-adamw-train "$(run train --train-examples 1000 --model "$MODEL" --task "$task" --data "$OUT/data" --optimizer adamw \
        --steps "${COMPLETE_ADAMW_STEPS:-150}" --lr 1e-5 --eval-every "${COMPLETE_EVAL_EVERY:-50}" \
        --eval-examples "${COMPLETE_EVAL_N:-200}" --out "$run" --json)"
    record complete-adamw-curve "{\"first_200_dev_exact_match\": $(evals "$run")}"
    record complete-adamw-best "$(run eval --model "$MODEL" --run "$run" --at best --task "$task" --data "$OUT/data" "${LIMIT[@]}" --json)"
}

stage_accuracy() {
    local run="$OUT/accuracy-mezo"
    rm -rf "$run"
    record accuracy-mezo-train "$(run train --train-examples 1000 --model "$MODEL" --task sst2 --data "$SST2" --objective accuracy \
        --steps "${ACCURACY_STEPS:-100}" \
        --lr 1e-5 --eval-every 25 --eval-examples 300 --out "$run" --json)"
    record accuracy-mezo-curve "{\"first_300_dev\": $(evals "$run")}"
    record accuracy-mezo-best "$(run eval --model "$MODEL" --run "$run" --at best --task sst2 --data "$SST2" "${LIMIT[@]}" --json)"
}

stages=("$@")
[[ ${#stages[@]} -gt 0 ]] || stages=(data classify csv complete-mezo complete-adamw accuracy)
[[ -f "$OUT/data/train.jsonl" || " ${stages[*]} " == *" data "* ]] || stage_data
for s in "${stages[@]}"; do
    echo "== $s ($(date -u +%H:%M:%S))" >&2
    "stage_${s//-/_}"
done
