#!/usr/bin/env python3
"""Where MeZO wins on memory against LoRA trained by backprop: `zofinetune profile` over a grid of
batch sizes and sequence lengths, each method in a process of its own (peak RSS = VmHWM).

  python3 tools/experiments/lora_memory_sweep.py --model models/gemma-3-270m [--batches 16 64] [--lengths 64 256] \\
      [--methods mezo lora-mezo lora-adamw adamw] [--memory-limit 10] [--out docs/lora-memory-gemma-3-270m.md]

Writes the profile JSON of every point beside --out (<out>-B<batch>-T<length>.json) and a Markdown
table: peak RSS per method (measured; or, for a method whose predicted memory exceeds
--memory-limit GB, the MemoryPlan prediction, marked "pred."), the prediction's error where
measured, and LoRA-AdamW / MeZO. A step's time is from a shared 2-core machine: compare ratios.
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
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--lengths", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--methods", nargs="+", default=["mezo", "lora-mezo", "lora-adamw", "adamw"])
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--memory-limit", type=float, default=None, help="GB: predict, do not run, above this")
    ap.add_argument("--out", default="docs/lora-memory-gemma-3-270m.md")
    args = ap.parse_args()

    base = os.path.splitext(args.out)[0]
    rows = []
    for B in args.batches:
        for T in args.lengths:
            path = f"{base}-B{B}-T{T}.json"
            if not os.path.exists(path):
                cmd = [args.binary, "profile", "--model", args.model, "--task", "sst2", "--data", args.data,
                       "--batch-size", str(B), "--seq-len", str(T), "--steps", str(args.steps),
                       "--methods", ",".join(args.methods), "--json", path]
                if args.memory_limit:
                    cmd += ["--memory-limit", str(args.memory_limit)]
                log("$", " ".join(cmd))
                subprocess.run(cmd, check=True)
            report = json.load(open(path))
            rows.append((B, T, {m["method"]: m for m in report["methods"]}))

    def gb(x):
        return f"{x / 1e9:.2f}"

    def peak(m):
        """(bytes, measured?) — the predicted total above the baseline plus the baseline when not run."""
        if m.get("peak_rss_bytes"):
            return m["peak_rss_bytes"], True
        return sum(m["predicted"].values()) + 100_000_000, False

    lines = ["| batch × tokens | " + " | ".join(args.methods) + " | LoRA-AdamW / MeZO | worst prediction error |",
             "|---|" + "---|" * (len(args.methods) + 2)]
    for B, T, methods in rows:
        cells, errors = [], []
        for name in args.methods:
            m = methods.get(name)
            if m is None:
                cells.append("-")
                continue
            value, measured = peak(m)
            cells.append(f"{gb(value)}" + ("" if measured else " (pred.)"))
            if measured:
                above = m["peak_rss_bytes"] - m["baseline_bytes"]
                errors.append(abs(sum(m["predicted"].values()) - above) / above)
        ratio = "-"
        if "lora-adamw" in methods and "mezo" in methods:
            ratio = f"{peak(methods['lora-adamw'])[0] / peak(methods['mezo'])[0]:.2f}×"
        lines.append(f"| {B} × {T} | " + " | ".join(cells) + f" | {ratio} | "
                     + (f"{max(errors) * 100:.1f}%" if errors else "-") + " |")
    table = "\n".join(lines)
    header = (f"# Peak memory (GB, VmHWM) of MeZO and LoRA on {os.path.basename(args.model)}, SST-2 prompts\n\n"
              f"`python3 tools/experiments/lora_memory_sweep.py --model {args.model}` (each method a process of its own; "
              "LoRA rank 8, α 16 on q,v; fp32). \"pred.\": not run (predicted above --memory-limit), the "
              "MemoryPlan prediction + 100 MB baseline.\n\n")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(header + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
