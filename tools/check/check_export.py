#!/usr/bin/env python3
"""Check a folder written by `zofinetune export` against the engine's own predictions, in transformers.

  python3 tools/check/check_export.py --exported DIR --predictions FILE --data /work/shared/data/sst2 [--json]

DIR is a Hugging Face folder (config.json, model.safetensors, tokenizer.model or tokenizer.json) written by
`zofinetune export`; FILE is the JSON array of SST-2 dev predictions (0/1, one per dev row, in file
order) written by `zofinetune eval --predictions-out FILE` for the same weights (--run RUN_DIR, or the
exported folder itself as --model).

1. The tensors in DIR/model.safetensors must be exactly the model's: every parameter of the
   architecture named in config.json present with the same shape (the output embedding may be absent
   when the embeddings are tied), nothing extra. transformers itself only warns about missing keys and
   initialises them at random, so this is checked first, on a meta-device model (no memory).
2. DIR is loaded with AutoModelForCausalLM.from_pretrained and SST-2 dev is predicted zero-shot by
   tools/reference/reference_real_model.py itself (imported, its main() run with --predictions; nothing of it is
   re-implemented here): <bos> + "{sentence} It was", label 1 iff log p(" great") >= log p(" terrible")
   at the last real position, float32, batched with right padding.
3. The two prediction lists are compared. Prints agreement (fraction of rows where they match), the
   accuracy of each, and the rows that differ with transformers' log-probability margin (differences
   at near-ties are rounding; large margins are bugs). Exits 1 if agreement < --min-agreement (0.995).

--json prints one JSON object on stdout: {"agreement", "accuracy_transformers", "n", ...}; everything
human goes to stderr.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile

import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import reference_real_model  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def check_tensors(folder):
    """Compare the tensor names and shapes in folder/model.safetensors with the architecture's parameters."""
    config = AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    path = os.path.join(folder, "model.safetensors")
    with safe_open(path, framework="pt") as f:
        found = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    tied = getattr(config.get_text_config() if hasattr(config, "get_text_config") else config, "tie_word_embeddings", False)
    problems = []
    for name, shape in expected.items():
        if name not in found:
            if tied and name == "lm_head.weight":
                continue
            problems.append(f"missing tensor {name} {list(shape)}")
        elif found[name] != shape:
            problems.append(f"tensor {name}: shape {list(found[name])} in the file, {list(shape)} in the model")
    problems += [f"unexpected tensor {name} {list(found[name])}" for name in found if name not in expected]
    if problems:
        raise SystemExit(f"{path}: " + "; ".join(problems))
    log(f"{path}: {len(found)} tensors, names and shapes match {type(model).__name__}"
        f"{' (lm_head tied to the embedding)' if tied and 'lm_head.weight' not in found else ''}")


def transformers_predictions(folder, data, split, threads, batch_size, attn, workdir):
    """Run tools/reference/reference_real_model.py's main() on folder; return its result object."""
    out = os.path.join(workdir, "logits.safetensors")
    preds = os.path.join(workdir, "predictions.json")
    argv = [
        "reference_real_model.py", "--model", folder, "--data", data, "--split", split,
        "--out", out, "--predictions", preds, "--n-logits", "1",
        "--threads", str(threads), "--batch-size", str(batch_size), "--attn", attn,
    ]
    saved = sys.argv
    sys.argv = argv
    try:
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout for --json
            reference_real_model.main()
    finally:
        sys.argv = saved
    with open(preds) as f:
        return json.load(f)


def load_predictions(path):
    """zofinetune eval --predictions-out: one JSON object per line with "label_index" (0/1 for
    SST-2); a JSON array of 0/1, or an object with a "predictions" array, is read too."""
    with open(path) as f:
        text = f.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = [json.loads(line)["label_index"] for line in text.splitlines() if line.strip()]
    if isinstance(value, dict) and "label_index" in value:   # a one-line predictions file
        value = [value["label_index"]]
    elif isinstance(value, dict):
        value = value.get("predictions")
    if not isinstance(value, list) or not all(v in (0, 1) and not isinstance(v, bool) for v in value):
        raise SystemExit(f"{path}: expected one JSON line per example with a 0/1 label_index")
    return value


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exported", required=True, help="folder written by zofinetune export")
    ap.add_argument("--predictions", required=True, help="zofinetune eval --predictions-out file (JSON lines)")
    ap.add_argument("--data", required=True, help="SST-2 folder with dev.tsv")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--min-agreement", type=float, default=0.995)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--attn", default="eager", choices=["eager", "sdpa"])
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = ap.parse_args()

    for name in ("config.json", "model.safetensors"):
        if not os.path.isfile(os.path.join(args.exported, name)):
            raise SystemExit(f"{args.exported}: no {name}")
    if not any(os.path.isfile(os.path.join(args.exported, name)) for name in ("tokenizer.model", "tokenizer.json")):
        raise SystemExit(f"{args.exported}: no tokenizer.model or tokenizer.json")
    engine = load_predictions(args.predictions)
    labels = [y for _, y in reference_real_model.read_tsv(os.path.join(args.data, f"{args.split}.tsv"))]
    if len(engine) != len(labels):
        raise SystemExit(f"{args.predictions}: {len(engine)} predictions, {args.split}.tsv has {len(labels)} rows")

    check_tensors(args.exported)
    with tempfile.TemporaryDirectory(prefix="check_export.") as workdir:
        ref = transformers_predictions(args.exported, args.data, args.split, args.threads,
                                       args.batch_size, args.attn, workdir)
    theirs = ref["predictions"]
    n = len(labels)
    assert len(theirs) == n, (len(theirs), n)

    differ = [i for i in range(n) if engine[i] != theirs[i]]
    agreement = 1 - len(differ) / n
    acc_engine = sum(int(p == y) for p, y in zip(engine, labels)) / n
    acc_transformers = ref["accuracy"]
    for i in differ[:20]:
        margin = ref["logprob_great"][i] - ref["logprob_terrible"][i]
        log(f"  row {i}: engine {engine[i]}, transformers {theirs[i]} "
            f"(log p(great) - log p(terrible) = {margin:+.2e}), label {labels[i]}")
    if len(differ) > 20:
        log(f"  ... and {len(differ) - 20} more rows differ")
    ok = agreement >= args.min_agreement
    log(f"agreement {agreement:.4f} ({n - len(differ)}/{n}); accuracy transformers {acc_transformers:.4f}, "
        f"engine {acc_engine:.4f}; transformers eval {ref['seconds']:.1f}s; "
        f"{'OK' if ok else 'FAIL'} (threshold {args.min_agreement})")
    if args.json:
        print(json.dumps({
            "agreement": agreement,
            "accuracy_transformers": acc_transformers,
            "accuracy_predictions": acc_engine,
            "n": n,
            "differing_rows": differ,
            "min_agreement": args.min_agreement,
            "ok": ok,
            "exported": os.path.abspath(args.exported),
            "predictions_file": os.path.abspath(args.predictions),
            "transformers_seconds": ref["seconds"],
        }))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
