#!/usr/bin/env bash
# Measures distributed training on this machine (README "Past one machine", docs/distributed.md):
# a single-process MeZO run, the same run data-parallel and pipelined over two ranks (both must
# give the same seed log), and AdamW data parallel, each printing its JSON summary (seconds per
# step, bytes sent per step, peak RSS per rank). Two ranks on two cores: one thread each.
#
#   tools/bench/bench_mpi.sh [MODEL_DIR] [STEPS]      (default models/gemma-3-270m, 20 steps)
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-models/gemma-3-270m}
steps=${2:-20}
bin=.build/release/zofinetune
out=$(mktemp -d /tmp/zf-bench-mpi-XXXXXX)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(train --model "$model" --task sst2 --data data/sst2 --steps "$steps" --eval-every 0 --threads 1 --json)
mpi=(mpirun --oversubscribe -np 2 "$bin")

echo "== single process, micro-batch 8" >&2
"$bin" "${common[@]}" --micro-batch 8 --out "$out/single" | tee "$out/single.json"
echo "== data parallel, 2 ranks" >&2
"${mpi[@]}" "${common[@]}" --distributed data --out "$out/data" | tee "$out/data.json"
echo "== pipeline, 2 stages" >&2
"${mpi[@]}" "${common[@]}" --distributed pipeline --out "$out/pipeline" | tee "$out/pipeline.json"
python3 - "$out" <<'PY'
import json, sys
def records(p):
    return [json.loads(l)["record"] for l in open(p) if '"record"' in l]
single = records(sys.argv[1] + "/single/log.jsonl")
for mode in ("data", "pipeline"):
    same = records(sys.argv[1] + f"/{mode}/log.jsonl") == single
    print(f"{mode}: seed log {'bitwise equal to' if same else 'DIFFERS from'} the single-process run ({len(single)} steps)", file=sys.stderr)
PY
echo "== AdamW data parallel, 2 ranks, 2 steps" >&2
adam=(train --model "$model" --task sst2 --data data/sst2 --steps 2 --eval-every 0 --threads 1 --json --optimizer adamw)
"${mpi[@]}" "${adam[@]}" --distributed data --out "$out/adamw" | tee "$out/adamw.json"
echo "runs in $out" >&2
