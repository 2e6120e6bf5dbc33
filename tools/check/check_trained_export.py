#!/usr/bin/env python3
"""MeZO train -> export -> reload in transformers, checked against `zofinetune eval` of the trained run.

  python3 tools/check/check_trained_export.py --model DIR [--weights bf16] [--limit 100] [--steps 5] \\
      [--data data/sst2] [--bin .build/release/zofinetune] [--json]
  python3 tools/check/check_trained_export.py --exported DIR --predictions FILE [--data DIR] [--limit N] [--json]

The first form trains --steps MeZO steps on SST-2 (lr 1e-5 unless --lr: the weights move in a few
steps; 1e-4 made Qwen2.5-Coder-0.5B diverge to logits in the thousands), exports the run as a Hugging Face folder (`zofinetune export`) and
writes `zofinetune eval --run RUN --predictions-out` for the first --limit dev sentences; the second
form starts from an export and such a predictions file (the XCTest `TrainedExportReloadCLITests`
makes them itself). Either way the export is then loaded with AutoModelForCausalLM in float32 (a
BF16 export is widened exactly) and each prompt, built as the engine builds it (tools/reference/
reference_real_model.py's prompt_tokenizer: prefix + "{sentence} It was"), runs alone (batch 1, no
padding). Compared with the engine's scores (the logits of " terrible" and " great" at the last
position):

- agreement: the fraction of sentences where transformers' larger candidate logit is eval's
  prediction. A row may differ only at a near-tie, |margin| <= --max-logit-diff (then rounding, not
  a bug, decides it): any other difference fails.
- max |logit diff| over every sentence and both candidates: fails above --max-logit-diff (default
  1e-3 for an f32 export; 0.5 for a bf16 run, whose products round weights and activations to bf16
  while transformers multiplies in f32: docs/weights-16bit.md measured 0.20 on Gemma-3-270M).

It also says which dtype the export's tensors are stored in. --json prints one JSON object on stdout;
everything human goes to stderr. Exit 1 when a check fails.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import reference_real_model  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(command):
    """Runs the engine; on failure shows what it printed."""
    log("$ " + " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


def subset_data(data, limit, folder):
    """SST-2 with the first `limit` dev rows and the first 2,000 training rows (what a few steps read)."""
    os.makedirs(folder, exist_ok=True)
    for split, rows in (("dev", limit), ("train", 2000)):
        with open(os.path.join(data, f"{split}.tsv"), encoding="utf-8") as f:
            lines = f.readlines()
        with open(os.path.join(folder, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.writelines(lines[: rows + 1])
    return folder


def train_export_eval(args, work):
    """The engine's side: train, export, eval of the trained run. Returns (export folder, predictions file)."""
    data = subset_data(args.data, args.limit, os.path.join(work, "data"))
    model, run_dir, exported = os.path.abspath(args.model), os.path.join(work, "run"), os.path.join(work, "exported")
    predictions = os.path.join(work, "predictions.jsonl")
    weights = ["--weights", args.weights] if args.weights else []
    run([args.bin, "train", "--model", model, "--task", "sst2", "--data", data, "--steps", str(args.steps),
         "--batch-size", "8", "--train-examples", "256", "--eval-every", "0", "--lr", str(args.lr), "--out", run_dir] + weights)
    run([args.bin, "export", "--model", model, "--run", run_dir, "--out", exported])
    run([args.bin, "eval", "--model", model, "--run", run_dir, "--task", "sst2", "--data", data, "--split", "dev",
         "--predictions-out", predictions])
    return exported, predictions


def engine_scores(path):
    """eval --predictions-out: per line the label index and each label's score; returns
    ([prediction], [[score of label 0, score of label 1]]) with SST-2's labels 0 (" terrible"), 1 (" great")."""
    lines = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    names = {}
    for line in lines:
        names[line["label_index"]] = line["prediction"]
    keys = sorted(lines[0]["scores"])
    if len(names) == 1:  # one class predicted throughout: the other name is the remaining key
        (index, name), = names.items()
        names[1 - index] = next(k for k in keys if k != name)
    return [line["label_index"] for line in lines], [[line["scores"][names[0]], line["scores"][names[1]]] for line in lines]


def export_dtypes(folder):
    with safe_open(os.path.join(folder, "model.safetensors"), framework="pt") as f:
        return sorted({str(f.get_slice(name).get_dtype()) for name in f.keys()})


def transformers_logits(folder, data, limit, threads):
    """Candidate logits (" terrible", " great") at the last position of each of the first `limit` dev prompts."""
    torch.set_num_threads(threads)
    _, sp, prefix, candidates = reference_real_model.prompt_tokenizer(folder)
    rows = reference_real_model.read_tsv(os.path.join(data, "dev.tsv"))[:limit]
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").float().eval()
    out = []
    with torch.inference_mode():
        for sentence, _ in rows:
            ids = prefix + sp.encode(reference_real_model.TEMPLATE.format(sentence=sentence))
            logits = model(input_ids=torch.tensor([ids]), logits_to_keep=1).logits[0, -1].float()
            out.append([logits[c].item() for c in candidates])
    return out


def compare(engine_predictions, engine, theirs, tolerance):
    n = len(engine)
    diffs = [max(abs(a - b) for a, b in zip(e, t)) for e, t in zip(engine, theirs)]
    theirs_predictions = [1 if t[1] > t[0] else 0 for t in theirs]   # eval's argmax: the first wins ties
    differ = [i for i in range(n) if engine_predictions[i] != theirs_predictions[i]]
    far = [i for i in differ if abs(theirs[i][1] - theirs[i][0]) > tolerance]
    return {
        "n": n,
        "agreement": 1 - len(differ) / n,
        "differing_rows": differ,
        "differing_rows_beyond_tie": far,
        "max_logit_diff": max(diffs),
        "mean_logit_diff": sum(diffs) / n,
        "logit_range": [min(min(t) for t in theirs), max(max(t) for t in theirs)],
        "max_logit_diff_tolerance": tolerance,
        "ok": not far and max(diffs) <= tolerance,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder to train from (the first form)")
    ap.add_argument("--weights", choices=["f32", "bf16"], help="train --weights (default: the folder's own)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--exported", help="an export (the second form)")
    ap.add_argument("--predictions", help="eval --predictions-out of the run the export came from (second form)")
    ap.add_argument("--data", default=os.path.join(REPO, "data", "sst2"), help="SST-2 folder with dev.tsv (and train.tsv)")
    ap.add_argument("--limit", type=int, default=100, help="the first N dev sentences")
    ap.add_argument("--bin", default=os.path.join(REPO, ".build", "release", "zofinetune"))
    ap.add_argument("--max-logit-diff", type=float, help="tolerance (default 1e-3, 0.5 for bf16 weights)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if bool(args.model) == bool(args.exported) or bool(args.exported) != bool(args.predictions):
        ap.error("give --model, or --exported with --predictions")

    with tempfile.TemporaryDirectory(prefix="check_trained_export.") as work:
        exported, predictions = (args.exported, args.predictions) if args.exported else train_export_eval(args, work)
        dtypes = export_dtypes(exported)
        engine_predictions, engine = engine_scores(predictions)
        if len(engine) < args.limit:
            raise SystemExit(f"{predictions}: {len(engine)} predictions, fewer than --limit {args.limit}")
        engine_predictions, engine = engine_predictions[: args.limit], engine[: args.limit]
        bf16 = args.weights == "bf16" or "BF16" in dtypes
        tolerance = args.max_logit_diff if args.max_logit_diff is not None else (0.5 if bf16 else 1e-3)
        theirs = transformers_logits(exported, args.data, args.limit, args.threads)
    result = compare(engine_predictions, engine, theirs, tolerance)
    result.update({"export_dtypes": dtypes, "model": args.model or exported, "weights": args.weights})
    log(f"export stored as {', '.join(dtypes)}; agreement {result['agreement']:.4f} "
        f"({result['n'] - len(result['differing_rows'])}/{result['n']}), max |logit diff| {result['max_logit_diff']:.3g} "
        f"(mean {result['mean_logit_diff']:.3g}, logits in [{result['logit_range'][0]:.1f}, {result['logit_range'][1]:.1f}]); "
        f"{'OK' if result['ok'] else 'FAIL'} (tolerance {tolerance:g})")
    if args.json:
        print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
