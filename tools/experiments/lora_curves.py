#!/usr/bin/env python3
"""Short SST-2 dev curves of LoRA trained by MeZO and by AdamW (issue 14), each run a `zofinetune
train` of its own (nice'd), then one Markdown table of dev accuracy by step.

  python3 tools/experiments/lora_curves.py --model models/gemma-3-270m [--out docs/lora-curves-gemma-3-270m.md]
  python3 tools/experiments/lora_curves.py --model models/all-minilm-l6-v2 --out docs/lora-curves-all-minilm-l6-v2.md

Runs (LoRA rank 8, α 16 on q,v; the MeZO paper's settings for MeZO-LoRA: lr 1e-4, eps 1e-2;
princeton-nlp/MeZO large_models/README.md), 1,000 training examples, batch 16, seed 0:
  mezo-lora    --peft lora --optimizer mezo  --lr 1e-4 --eps 1e-2, --mezo-steps steps
  adamw-lora   --peft lora --optimizer adamw --lr 1e-4,            --adamw-steps steps
Dev accuracy every --eval-every steps on the first --eval-examples dev sentences (all: 0).
Existing run folders under --runs are reused (their log is read), so the script can be re-run to
rebuild the table.
"""

import argparse
import json
import os
import subprocess
import sys


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/gemma-3-270m")
    ap.add_argument("--binary", default=".build/release/zofinetune")
    ap.add_argument("--data", default=os.environ.get("SST2_DIR", "data/sst2"))
    ap.add_argument("--runs", default="runs/lora-curves")
    ap.add_argument("--mezo-steps", type=int, default=300)
    ap.add_argument("--mezo-eval-every", type=int, default=100)
    ap.add_argument("--mezo-lr", default="1e-4")
    ap.add_argument("--adamw-steps", type=int, default=100)
    ap.add_argument("--adamw-eval-every", type=int, default=25)
    ap.add_argument("--adamw-lr", default="1e-4")
    ap.add_argument("--eval-examples", type=int, default=200, help="0: the whole dev set")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    name = os.path.basename(os.path.normpath(args.model))
    out = args.out or f"docs/lora-curves-{name}.md"
    runs = [("MeZO-LoRA", ["--optimizer", "mezo", "--lr", args.mezo_lr, "--eps", "1e-2", "--steps", str(args.mezo_steps),
                           "--eval-every", str(args.mezo_eval_every)]),
            ("LoRA-AdamW", ["--optimizer", "adamw", "--lr", args.adamw_lr, "--steps", str(args.adamw_steps),
                            "--eval-every", str(args.adamw_eval_every)])]
    table = []
    for label, flags in runs:
        folder = os.path.join(args.runs, f"{name}-{label.lower()}")
        if not os.path.exists(os.path.join(folder, "run.json")):
            cmd = ["nice", "-n", "10", args.binary, "train", "--model", args.model, "--task", "sst2", "--data", args.data,
                   "--peft", "lora", "--train-examples", "1000", "--out", folder] + flags
            if args.eval_examples:
                cmd += ["--eval-examples", str(args.eval_examples)]
            log("$", " ".join(cmd))
            subprocess.run(cmd, check=True)
        evals, seconds = [], 0.0
        for line in open(os.path.join(folder, "log.jsonl")):
            r = json.loads(line)
            if r["type"] == "eval":
                evals.append((r["step"], r["accuracy"]))
            elif r.get("seconds"):
                seconds += r["seconds"]
        steps = sum(1 for line in open(os.path.join(folder, "log.jsonl")) if '"type":"step"' in line)
        table.append((label, " ".join(flags), evals, seconds / max(1, steps)))
    lines = [f"# SST-2 dev accuracy of LoRA (rank 8, α 16, q,v) on {name}",
             "",
             f"`python3 tools/experiments/lora_curves.py --model {args.model}` — 1,000 training examples, batch 16, seed 0; dev: "
             + (f"first {args.eval_examples} sentences" if args.eval_examples else "all 872 sentences")
             + ". Seconds per step from a shared 2-core AMD EPYC (Zen 5): compare within a row only.",
             "",
             "| run | settings | dev accuracy by step | s/step |",
             "|---|---|---|---|"]
    for label, flags, evals, sps in table:
        curve = ", ".join(f"{s}: {a * 100:.1f}%" for s, a in evals)
        lines.append(f"| {label} | `{flags}` | {curve} | {sps:.2f} |")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
