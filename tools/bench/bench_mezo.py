#!/usr/bin/env python3
"""Side-by-side MeZO step on the same model and batch: zofinetune vs PyTorch (official style).

  python3 tools/bench/bench_mezo.py [--model models/gemma-3-270m] [--data data/sst2] [--steps 3] [--batch-size 16]
  python3 tools/bench/bench_mezo.py --model models/qwen2.5-coder-1.5b-instruct --weights bf16 --steps 3

Runs `zofinetune bench --mezo-steps` and tools/bench/pytorch_mezo_bench.py one after the other (each in
its own process, so each peak RSS is its own), both on the first --batch-size examples of
train.tsv with the SST-2 prompt, and prints seconds per step, peak RSS and the ratios.

--weights bf16 compares 16-bit weights on both sides: zofinetune's MeZO on bf16 weights (no-write
forwards, stochastic-rounding update) against PyTorch MeZO with bf16 weights (MeZO's --load_bfloat16).
`bench` holds f32 weights, so that side is timed by `zofinetune train --weights bf16` on a training
split of exactly those --batch-size rows (every step's batch is the same rows), from the per-step
seconds of its log.jsonl (the first step, a warm-up, dropped); its peak RSS is the child's ru_maxrss.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

from machine import cpu_name

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_json(cmd):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def ours_by_train(a):
    """zofinetune's MeZO step on --weights a.weights, timed by `train` over the first rows of train.tsv."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(ROOT, a.data, "train.tsv"), encoding="utf-8") as f:  # a.data may be absolute
            rows = [next(f) for _ in range(a.batch_size + 1)]  # header + the batch
        split = os.path.join(tmp, "train.tsv")
        with open(split, "w", encoding="utf-8") as f:
            f.writelines(rows)
        run = os.path.join(tmp, "run")
        cmd = [a.binary, "train", "--model", a.model, "--train", split, "--dev", split,
               "--train-examples", str(a.batch_size), "--batch-size", str(a.batch_size),
               "--steps", str(a.steps + 1), "--eval-every", "0", "--weights", a.weights,
               "--threads", str(a.threads), "--out", run]
        print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=sys.stderr)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # kB → bytes; ours ran first
        with open(os.path.join(run, "log.jsonl")) as f:
            steps = [r["seconds"] for r in map(json.loads, f) if r.get("type") == "step"]
    timed = steps[1:]  # the first step is the warm-up, as PyTorch's
    return {"seconds_per_step": sum(timed) / len(timed), "seconds_per_step_min": min(timed),
            "peak_rss_bytes": peak, "weights": a.weights, "steps": len(timed)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/gemma-3-270m")
    ap.add_argument("--data", default=os.environ.get("SST2_DIR", "data/sst2"))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--binary", default=".build/release/zofinetune")
    ap.add_argument("--perturbation", default=None, help="rademacher|gaussian (default: train's)")
    ap.add_argument("--embedding-perturbation", default=None, help="batch|all (default: train's)")
    ap.add_argument("--precision", default="fp32", help="fp32|bf16 products in zofinetune's forwards")
    ap.add_argument("--weights", default=None, choices=["bf16", "f32"],
                    help="time `train --weights W` against PyTorch with weights of the same dtype")
    a = ap.parse_args()
    if a.weights:
        return compare_by_train(a)

    mode = ["--precision", a.precision]
    if a.perturbation:
        mode += ["--perturbation", a.perturbation]
    if a.embedding_perturbation:
        mode += ["--embedding-perturbation", a.embedding_perturbation]
    ours = run_json([a.binary, "bench", "--model", a.model, "--data", a.data, "--limit", "0",
                     "--mezo-steps", str(a.steps), "--batch-size", str(a.batch_size),
                     "--threads", str(a.threads), "--json"] + mode)["mezo"]
    torch = run_json([sys.executable, "tools/bench/pytorch_mezo_bench.py", "--model", a.model, "--data", a.data,
                      "--steps", str(a.steps), "--batch-size", str(a.batch_size), "--threads", str(a.threads),
                      "--json"])
    speedup = torch["seconds_per_step"] / ours["seconds_per_step"]
    memory = torch["peak_rss_bytes"] / ours["peak_rss_bytes"]
    print(f"{'':24}{'zofinetune':>12}{'PyTorch':>12}{'ratio':>8}")
    print(f"{'seconds per step':24}{ours['seconds_per_step']:12.3f}{torch['seconds_per_step']:12.3f}{speedup:7.1f}x")
    print(f"{'  forward':24}{ours['forward_seconds']:12.3f}{torch['forward_seconds']:12.3f}")
    print(f"{'  perturb + update':24}{ours['perturb_update_seconds']:12.3f}{torch['perturb_update_seconds']:12.3f}")
    print(f"{'  z, embedding rows':24}{ours['perturbation'] + ', ' + ours['embedding_perturbation']:>12}{'gaussian, all':>12}")
    print(f"noise passes: {ours['noise_bytes_per_step'] / 1e9:.2f} GB a step at {ours['noise_gb_per_second']:.1f} GB/s "
          f"({100 * ours['noise_gb_per_second'] / ours['copy_gb_per_second']:.0f}% of the {ours['copy_gb_per_second']:.1f} GB/s copy bandwidth); "
          f"generator {ours['generator_values_per_second_per_core'] / 1e9:.2f} G values/s per core")
    print(f"{'peak RSS (GB)':24}{ours['peak_rss_bytes'] / 1e9:12.2f}{torch['peak_rss_bytes'] / 1e9:12.2f}{memory:7.1f}x")
    cpu = cpu_name()
    print(f"CPU: {cpu}, {a.threads} threads")
    print(json.dumps({"zofinetune": ours, "pytorch": torch, "speedup": speedup, "memory_ratio": memory, "cpu": cpu}))


def compare_by_train(a):
    ours = ours_by_train(a)
    dtype = "bfloat16" if a.weights == "bf16" else "float32"
    torch = run_json([sys.executable, "tools/bench/pytorch_mezo_bench.py", "--model", a.model, "--data", a.data,
                      "--steps", str(a.steps), "--batch-size", str(a.batch_size), "--threads", str(a.threads),
                      "--dtype", dtype, "--json"])
    speedup = torch["seconds_per_step"] / ours["seconds_per_step"]
    memory = torch["peak_rss_bytes"] / ours["peak_rss_bytes"]
    print(f"{'weights ' + a.weights:24}{'zofinetune':>12}{'PyTorch':>12}{'ratio':>8}")
    print(f"{'seconds per step':24}{ours['seconds_per_step']:12.3f}{torch['seconds_per_step']:12.3f}{speedup:7.1f}x")
    print(f"{'peak RSS (GB)':24}{ours['peak_rss_bytes'] / 1e9:12.2f}{torch['peak_rss_bytes'] / 1e9:12.2f}{memory:7.1f}x")
    cpu = cpu_name()
    print(f"CPU: {cpu}, {a.threads} threads; load average {os.getloadavg()[0]:.2f}")
    print(json.dumps({"zofinetune": ours, "pytorch": torch, "speedup": speedup, "memory_ratio": memory, "cpu": cpu}))


if __name__ == "__main__":
    main()
