#!/usr/bin/env python3
"""Side-by-side backprop step (SGD/AdamW) on the same model and batch: zofinetune vs PyTorch.

  python3 tools/bench/bench_fo.py [--model models/gemma-3-270m] [--data data/sst2] [--optimizer adamw]
                            [--steps 3] [--batch-size 16] [--threads 2]

Runs `zofinetune bench --fo-steps` and tools/bench/pytorch_fo_bench.py (with the candidate-rows head, the
same arithmetic, and with the full-vocabulary head a plain transformers call computes), one after
the other in their own processes, and prints seconds per step, peak RSS and the ratios
(PyTorch time / zofinetune time: above 1 means zofinetune is faster).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mezo import ROOT, run_json  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/gemma-3-270m")
    ap.add_argument("--data", default=os.environ.get("SST2_DIR", "data/sst2"))
    ap.add_argument("--optimizer", choices=["sgd", "adamw"], default="adamw")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--binary", default=".build/release/zofinetune")
    a = ap.parse_args()

    common = ["--model", a.model, "--data", a.data, "--batch-size", str(a.batch_size), "--threads", str(a.threads)]
    ours = run_json([a.binary, "bench", "--limit", "1", "--fo-steps", str(a.steps), "--optimizer", a.optimizer,
                     "--json"] + common)["backprop"]
    torch = {head: run_json([sys.executable, "tools/bench/pytorch_fo_bench.py", "--optimizer", a.optimizer, "--head", head,
                             "--steps", str(a.steps), "--json"] + common) for head in ["candidates", "full"]}
    print(f"{a.optimizer} step, batch {a.batch_size}, {a.threads} threads")
    print(f"{'':30}{'seconds':>10}{'fwd+bwd':>10}{'peak GB':>10}{'PyTorch/ours':>14}")
    rows = [("zofinetune", ours)] + [(f"PyTorch ({h} head)", t) for h, t in torch.items()]
    for name, r in rows:
        ratio = r["seconds_per_step"] / ours["seconds_per_step"]
        print(f"{name:30}{r['seconds_per_step']:10.3f}{r['forward_backward_seconds']:10.3f}"
              f"{r['peak_rss_bytes'] / 1e9:10.2f}{ratio:13.2f}x")
    print(json.dumps({"zofinetune": ours, "pytorch": torch,
                      "speedup": {h: t["seconds_per_step"] / ours["seconds_per_step"] for h, t in torch.items()}}))


if __name__ == "__main__":
    main()
