#!/usr/bin/env python3
"""Curves of `train --lr auto --auto-fraction F` runs (the stability check of docs/lr-auto.md):
batch loss (log scale) and dev accuracy against steps, one line per run folder.

    python3 tools/experiments/stability_curves.py runs/stability/gemma-x2 runs/stability/gemma-x0.5 \\
        runs/stability/gemma-x0.1 --out docs/assets/lr-auto/gemma-60-steps.svg
"""
import argparse
import json
import math
import os

COLORS = ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd"]


def read(folder):
    lines = [json.loads(l) for l in open(os.path.join(folder, "log.jsonl"))]
    config = json.load(open(os.path.join(folder, "run.json")))["config"]
    steps = [o["record"] for o in lines if o["type"] == "step"]
    loss = [(r["step"], (sum(r["loss_plus"]) + sum(r["loss_minus"])) / (len(r["loss_plus"]) + len(r["loss_minus"])))
            for r in steps]
    evals = [(o["step"], o["accuracy"]) for o in lines if o["type"] == "eval"]
    lr = next((r["lr"] for r in steps if r["lr"] > 0), 0)
    trace = next((r.get("trace_estimate") for r in steps if r["lr"] > 0), None)
    return dict(name=os.path.basename(folder), fraction=config.get("lr_auto", {}).get("fraction"), lr=lr, trace=trace,
                loss=loss, evals=evals)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    runs = [read(f) for f in args.runs]
    W, H, pad = 900, 360, 55
    pw = (W - 3 * pad) // 2
    maxstep = max(s for r in runs for s, _ in r["loss"]) + 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H + 30}" font-family="sans-serif">',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">--lr auto at a fraction of the estimated '
           f'stability limit 2q/tr(H) (Gemma-3-270M, SST-2)</text>']
    # Loss panel, log10 scale from 0.1 to 1000.
    x0 = pad
    out.append(f'<rect x="{x0}" y="{pad}" width="{pw}" height="{H - 2 * pad}" fill="none" stroke="#888"/>')
    out.append(f'<text x="{x0 + pw / 2}" y="{H - 15}" text-anchor="middle" font-size="12">step (batch loss, mean of L+ and L-)</text>')
    for k, v in enumerate([0.1, 1, 10, 100, 1000]):
        y = H - pad - (H - 2 * pad) * k / 4
        out.append(f'<text x="{x0 - 5}" y="{y + 4}" text-anchor="end" font-size="10">{v:g}</text>')
    for i, r in enumerate(runs):
        pts = [(x0 + pw * s / maxstep, H - pad - (H - 2 * pad) * (math.log10(max(l, 0.1)) + 1) / 4) for s, l in r["loss"]]
        out.append(f'<polyline fill="none" stroke="{COLORS[i]}" stroke-width="1.5" points="'
                   + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
    # Accuracy panel, 40% to 90%.
    x0 = 2 * pad + pw
    out.append(f'<rect x="{x0}" y="{pad}" width="{pw}" height="{H - 2 * pad}" fill="none" stroke="#888"/>')
    out.append(f'<text x="{x0 + pw / 2}" y="{H - 15}" text-anchor="middle" font-size="12">step (dev accuracy)</text>')
    for k in range(6):
        y = H - pad - (H - 2 * pad) * k / 5
        out.append(f'<text x="{x0 - 5}" y="{y + 4}" text-anchor="end" font-size="10">{40 + 10 * k}%</text>')
    for i, r in enumerate(runs):
        pts = [(x0 + pw * s / maxstep, H - pad - (H - 2 * pad) * (a - 0.4) / 0.5) for s, a in r["evals"]]
        out.append(f'<polyline fill="none" stroke="{COLORS[i]}" stroke-width="2" points="'
                   + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
    for i, r in enumerate(runs):
        out.append(f'<rect x="{pad + 280 * i}" y="{H + 8}" width="14" height="4" fill="{COLORS[i]}"/>'
                   f'<text x="{pad + 280 * i + 20}" y="{H + 14}" font-size="11">{r["fraction"]}× limit (lr {r["lr"]:.3g}, '
                   f'tr(H) ≈ {r["trace"]:.3g})</text>')
    out.append("</svg>")
    with open(args.out, "w") as fh:
        fh.write("\n".join(out))


if __name__ == "__main__":
    main()
