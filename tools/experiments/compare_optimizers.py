#!/usr/bin/env python3
"""SST-2 dev accuracy of every optimizer at an equal budget of forward passes (issue 12).

Each optimizer trains from the same base model, data sample, batches and seed; its number of steps
is budget / (forward passes per step): MeZO-like 2q, zo-cons 2q+3, FZOO N+1, HiZOO 3, LOZO 2.
AdamW is the reference line; a backprop step (forward + backward) counts as 3 forward passes.
Dev accuracy is measured every budget/`--points` forward passes; wall-clock is the sum of the
step times in the log (evaluations excluded) and peak RSS is the run's VmHWM.

A run folder that already finished is read, not rerun, so the script is rerunnable and
resumable (delete a folder to redo it). Results: docs/optimizers-<model>.md (table) and
docs/assets/optimizers-<model>.svg (accuracy against forward passes and against seconds).

    nice -n 10 python3 tools/experiments/compare_optimizers.py --model models/all-minilm-l6-v2 --budget 1000
    nice -n 10 python3 tools/experiments/compare_optimizers.py --model models/gemma-3-270m --budget 200 \\
        --eval-examples 200 --optimizers mezo,zo-sign,fzoo,adamw
    # LoRA and prefix tuning (issue 14) beside full-parameter MeZO and AdamW:
    nice -n 10 python3 tools/experiments/compare_optimizers.py --model models/all-minilm-l6-v2 --budget 1000 \\
        --optimizers mezo,mezo-lora,mezo-prefix,adamw,adamw-lora,adamw-prefix
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

FORWARDS = {"mezo": 2, "zo-sign": 2, "zo-momentum": 2, "zo-adam": 2, "zo-cons": 5, "fzoo": 9, "hizoo": 3,
            "lozo": 2, "sparse-mezo": 2, "adamw": 3, "sgd": 3,
            "mezo-lora": 2, "adamw-lora": 3, "mezo-prefix": 2, "adamw-prefix": 3,
            "mezo-lora-auto": 2.1, "mezo-prefix-auto": 2.1}
# Parameter-efficient methods (issue 14): the optimizer over a LoRA or prefix arena, the engine's defaults for
# it (the MeZO paper's settings: LoRA r 8, alpha 16 on q,v; 5 prefix tokens; their lr and eps), and MeZO on
# them with --lr auto (its clean forward every 10th step makes ~2.1 forwards a step).
PEFT = {"mezo-lora": ("mezo", "lora", []), "adamw-lora": ("adamw", "lora", []),
        "mezo-prefix": ("mezo", "prefix", []), "adamw-prefix": ("adamw", "prefix", []),
        "mezo-lora-auto": ("mezo", "lora", ["--lr", "auto"]), "mezo-prefix-auto": ("mezo", "prefix", ["--lr", "auto"])}
# Extra memory each method holds beyond inference (the memory plan; `zofinetune profile` measures it).
EXTRA = {"zo-momentum": "+1x weights", "zo-adam": "+2x weights", "hizoo": "+1x weights",
         "sparse-mezo": "+1/32x weights", "adamw": "+3x weights + activations", "sgd": "+1x weights + activations",
         "mezo-lora": "+adapters", "adamw-lora": "+3x adapters + activations", "mezo-prefix": "+prefix",
         "adamw-prefix": "+3x prefix + activations", "mezo-lora-auto": "+adapters", "mezo-prefix-auto": "+prefix"}
ALL = ["mezo", "zo-sign", "zo-momentum", "zo-adam", "zo-cons", "fzoo", "hizoo", "lozo", "sparse-mezo", "adamw"]
# Default lr per model family: the engine's Gemma defaults, and for MiniLM MeZO's best (README: 5e-5)
# with the others scaled by the same 25x; AdamW 1e-5 (Gemma, README) and 1e-4 (MiniLM). MeZO's 2e-6 on
# Gemma was the engine's default when the tables were made (since: chosen by the run's length, LRByLength.mezo).
LR = {
    "gemma": {"mezo": 2e-6},
    "minilm": {"mezo": 5e-5, "zo-sign": 5e-4, "zo-momentum": 5e-6, "zo-adam": 5e-4, "zo-cons": 5e-5,
               "fzoo": 1.25e-3, "hizoo": 5e-5, "lozo": 2.5e-5, "sparse-mezo": 5e-5, "adamw": 1e-4},
}
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#000000", "#17becf"]


def family(model):
    return "minilm" if "minilm" in model.lower() else "gemma"


def budget_of(args, opt):
    """Forward passes for `opt`: --budget, unless --opt-budget gives it its own (a capped reference line)."""
    return dict((k, int(v)) for k, v in (o.split("=") for o in args.opt_budget)).get(opt, args.budget)


def run_one(args, opt, lr, folder):
    steps = max(1, int(budget_of(args, opt) // FORWARDS[opt]))
    every = max(1, steps // args.points)
    optimizer, peft, peft_args = PEFT.get(opt, (opt, None, []))
    cmd = [args.binary, "train", "--model", args.model, "--task", "sst2", "--data", args.data, "--optimizer", optimizer,
           "--steps", str(steps), "--eval-every", str(every), "--seed", str(args.seed), "--out", folder, "--json",
           "--train-examples", "1000"]  # the tables' sample (the engine's default since: the whole file)
    if lr is not None:
        cmd += ["--lr", str(lr)]
    if args.eval_examples:
        cmd += ["--eval-examples", str(args.eval_examples)]
    if peft:
        cmd += ["--peft", peft] + peft_args
    if opt not in args.extra_except.split(","):
        cmd += args.extra.split()
    print(" ".join(cmd), file=sys.stderr, flush=True)
    started = time.time()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        print(f"{opt}: exit {out.returncode}", file=sys.stderr)
        return None
    summary = json.loads(out.stdout)
    summary["wall_seconds"] = time.time() - started
    with open(os.path.join(folder, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    return summary


def lr_text(result):
    """A run's lr for the table and legend; --lr auto runs are recorded with lr 0."""
    return "auto" if result["lr"] == 0 else f"{result['lr']:g}"


def curve(folder, opt):
    """(forward passes, seconds of steps so far, accuracy) at each evaluation."""
    points, seconds = [], 0.0
    with open(os.path.join(folder, "log.jsonl")) as fh:
        for line in fh:
            o = json.loads(line)
            if o["type"] == "step":
                seconds += o.get("seconds") or 0
            elif o["type"] == "eval":
                points.append((o["step"] * FORWARDS[opt], seconds, o["accuracy"]))
    return points


def svg(results, title):
    W, H, pad = 980, 400, 55
    pw = (W - 3 * pad) // 2

    def panel(x0, key, label, maxx):
        out = [f'<rect x="{x0}" y="{pad}" width="{pw}" height="{H - 2 * pad}" fill="none" stroke="#888"/>',
               f'<text x="{x0 + pw / 2}" y="{H - 15}" text-anchor="middle" font-size="12">{label}</text>']
        accs = [p[2] for r in results for p in r["curve"]]
        lo, hi = min(accs + [0.5]) - 0.01, max(accs + [0.5]) + 0.01
        for k in range(5):
            a = lo + (hi - lo) * k / 4
            y = H - pad - (H - 2 * pad) * k / 4
            out.append(f'<text x="{x0 - 5}" y="{y + 4}" text-anchor="end" font-size="10">{a * 100:.0f}%</text>')
            xv = maxx * k / 4
            out.append(f'<text x="{x0 + pw * k / 4}" y="{H - pad + 14}" text-anchor="middle" font-size="10">{xv:.0f}</text>')
        for i, r in enumerate(results):
            pts = [(x0 + pw * (p[key] / maxx if maxx else 0), H - pad - (H - 2 * pad) * (p[2] - lo) / (hi - lo))
                   for p in r["curve"]]
            color = COLORS[i % len(COLORS)]
            dash = ' stroke-dasharray="6,3"' if r["optimizer"].startswith("adamw") else ""
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="'
                       + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        return out

    maxf = max(p[0] for r in results for p in r["curve"]) or 1
    maxs = max(p[1] for r in results for p in r["curve"]) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H + 20 * ((len(results) + 4) // 5)}" '
             f'font-family="sans-serif">', f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>']
    parts += panel(pad, 0, "forward passes (AdamW: 3 per step)", maxf)
    parts += panel(2 * pad + pw, 1, "seconds of training steps (machine shared)", maxs)
    for i, r in enumerate(results):
        x, y = pad + (i % 5) * 180, H + 10 + 20 * (i // 5)
        parts.append(f'<rect x="{x}" y="{y - 9}" width="14" height="4" fill="{COLORS[i % len(COLORS)]}"/>'
                     f'<text x="{x + 20}" y="{y - 4}" font-size="11">{r["optimizer"]} (lr {lr_text(r)})</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default="data/sst2")
    ap.add_argument("--budget", type=int, default=2000, help="forward passes per optimizer")
    ap.add_argument("--points", type=int, default=5, help="dev evaluations per run (plus the one at step 0)")
    ap.add_argument("--eval-examples", type=int, help="dev subset (default: all 872)")
    ap.add_argument("--optimizers", default=",".join(ALL))
    ap.add_argument("--lr", action="append", default=[], help="override, e.g. --lr mezo=1e-5 (repeatable)")
    ap.add_argument("--opt-budget", action="append", default=[],
                    help="another budget for one optimizer, e.g. --opt-budget adamw=300 (repeatable)")
    ap.add_argument("--extra", default="", help="more train options for every run, e.g. '--precision bf16'")
    ap.add_argument("--extra-except", default="adamw,sgd,adamw-lora,adamw-prefix", help="optimizers that do not get --extra")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default="runs/compare")
    ap.add_argument("--binary", default=".build/release/zofinetune")
    ap.add_argument("--docs", default="docs")
    ap.add_argument("--no-run", action="store_true", help="only tabulate the runs that finished")
    args = ap.parse_args()
    name = os.path.basename(os.path.normpath(args.model))
    lrs = dict(LR[family(args.model)])
    for o in args.lr:
        k, v = o.split("=")
        lrs[k] = float(v)
    results = []
    for opt in args.optimizers.split(","):
        lr = lrs.get(opt)
        folder = os.path.join(args.runs, f"{name}-b{args.budget}-e{args.eval_examples or 'all'}", opt + (f"-lr{lr:g}" if lr else ""))
        summary_path = os.path.join(folder, "summary.json")
        if os.path.exists(summary_path):
            summary = json.load(open(summary_path))
        else:
            if args.no_run:
                continue
            if os.path.exists(folder):
                print(f"{folder} exists without a summary (interrupted?): delete it to rerun", file=sys.stderr)
                continue
            summary = run_one(args, opt, lr, folder)
            if summary is None:
                continue
        run_json = json.load(open(os.path.join(folder, "run.json")))
        # A run longer than this comparison's budget (linked from a larger one) counts up to the budget.
        c = [p for p in curve(folder, opt) if p[0] <= budget_of(args, opt)]
        results.append(dict(optimizer=opt, lr=run_json["config"]["lr"] if not run_json["config"].get("lr_auto") else 0,
                            curve=c, peak_rss=summary.get("peak_rss_bytes"), steps=min(summary.get("steps") or 0, int(budget_of(args, opt) // FORWARDS[opt])) or summary.get("steps"),
                            best=max(p[2] for p in c) if c else None, last=c[-1][2] if c else None,
                            step_seconds=c[-1][1] if c else None))
    if not results:
        return
    os.makedirs(os.path.join(args.docs, "assets"), exist_ok=True)
    subset = f"first {args.eval_examples} dev examples" if args.eval_examples else "all 872 dev examples"
    title = f"SST-2 dev accuracy, {name}, {args.budget} forward passes per optimizer ({subset})"
    with open(os.path.join(args.docs, "assets", f"optimizers-{name}.svg"), "w") as fh:
        fh.write(svg(results, title))
    lines = [f"# {title}", "",
             "Made by `tools/experiments/compare_optimizers.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]) + "` (seed "
             f"{args.seed}; batch 16, 1,000 training examples, the engine's defaults otherwise). Wall-clock "
             "is the sum of step times on a 2-core AMD EPYC (Zen 5) shared with other jobs: compare ratios, "
             "not absolute seconds.", "",
             "| optimizer | lr | steps | start | best | last | step seconds | peak RSS (GB) | extra memory |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        c = r["curve"]
        lines.append(f"| {r['optimizer']} | {lr_text(r)} | {r['steps']} | {c[0][2] * 100:.1f}% | {r['best'] * 100:.1f}% | "
                     f"{r['last'] * 100:.1f}% | {r['step_seconds']:.0f} | "
                     f"{(r['peak_rss'] or 0) / 1e9:.2f} | {EXTRA.get(r['optimizer'], 'none')} |")
    lines += ["", f"![curves](assets/optimizers-{name}.svg)", ""]
    with open(os.path.join(args.docs, f"optimizers-{name}.md"), "w") as fh:
        fh.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
