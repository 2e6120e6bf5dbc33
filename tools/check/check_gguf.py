#!/usr/bin/env python3
"""Check a GGUF file written by `zofinetune export --format gguf` with llama.cpp's own Python package
(gguf-py) and transformers' GGUF loader.

  python3 tools/check/check_gguf.py --gguf FILE.gguf [FILE2.gguf ...] --hf DIR [--config hf|gguf] [--json]
  python3 tools/check/check_gguf.py --gguf FILE.gguf --base MODEL_DIR --predictions FILE --data SST2_DIR [--json]

--hf DIR is `zofinetune export --format hf` of the same weights (model.safetensors, config.json and the
tokenizer files). Checked:
1. tensors: the GGUF holds exactly the tensors gguf-py's name map (gguf.get_tensor_name_map) gives for
   the architecture's Hugging Face tensors (plus rope_freqs for Llama 3 rope scaling); each tensor's
   bytes equal gguf-py's own encoding (gguf.quants.quantize, bit-exact with ggml) of the Hugging Face
   tensor after llama.cpp's conventions (Gemma norms + 1, Llama q/k permutation), and norms / biases
   are F32 as llama.cpp's converter makes them;
2. tokenizer metadata: tokens (and scores) equal the folder's tokenizer's;
3. logits: transformers loads the GGUF (AutoModelForCausalLM.from_pretrained(dir, gguf_file=...); with
   --config hf the folder's config.json is passed, for settings transformers' GGUF reader does not map
   such as Gemma's query_pre_attn_scalar or Llama 3 rope scaling) and its logits on fixed token sequences
   are compared with the Hugging Face folder's. f32 must agree to 1e-5; other types report the
   difference (and bf16/f16/q8_0 are covered bit-exactly by 1).
Exits 1 if a check fails.

With --predictions (zofinetune eval --predictions-out of the same run) the GGUF is loaded by transformers
with its own config only, SST-2 --split is predicted as tools/reference/reference_real_model.py does (<bos> +
"{sentence} It was", " great" vs " terrible" at the last position; tokenised by --base's tokenizer), and
the agreement with the engine's predictions is reported (exit 1 below --min-agreement, default 0.995; pass
0 for quantized types to only report). The tokenizer transformers builds from the GGUF is compared on the
same prompts and reported.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import gguf
import torch
from safetensors.numpy import load_file
from transformers import AutoConfig, AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # check_export
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def field(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return None
    values = [f.contents(i) for i in range(len(f.data))] if hasattr(f, "contents") else None
    if values is None:
        return None
    return values


def scalar(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def expected_tensors(hf_dir, arch):
    """HF tensors of the folder after llama.cpp's conventions, under gguf-py's names."""
    config = json.load(open(os.path.join(hf_dir, "config.json")))
    weights = load_file(os.path.join(hf_dir, "model.safetensors"))
    layers = config["num_hidden_layers"]
    arch_id = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    name_map = gguf.get_tensor_name_map(arch_id, layers)
    out = {}
    for hf_name, w in weights.items():
        base, suffix = hf_name.rsplit(".", 1)
        name = name_map.get_name(base)
        assert name is not None, f"gguf-py has no name for {hf_name}"
        w = w.astype(np.float32)
        if arch == "gemma3" and hf_name.endswith("norm.weight"):
            w = w + np.float32(1)
        if arch == "llama" and (".q_proj." in hf_name or ".k_proj." in hf_name):
            heads = config["num_attention_heads"] if ".q_proj." in hf_name else config["num_key_value_heads"]
            w = w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
        out[f"{name}.{suffix}"] = w
    return out, config


def check_tensors(reader, hf_dir, arch, problems):
    expected, config = expected_tensors(hf_dir, arch)
    found = {t.name: t for t in reader.tensors}
    extra = set(found) - set(expected) - {"rope_freqs.weight"}
    missing = set(expected) - set(found)
    if extra or missing:
        problems.append(f"tensor names: missing {sorted(missing)}, unexpected {sorted(extra)}")
    types = {}
    for name, w in expected.items():
        t = found.get(name)
        if t is None:
            continue
        qtype = gguf.GGMLQuantizationType(t.tensor_type)
        types[qtype.name] = types.get(qtype.name, 0) + 1
        if (w.ndim <= 1 or name.endswith("_norm.weight") or name.endswith(".bias")) and qtype != gguf.GGMLQuantizationType.F32:
            problems.append(f"{name}: {qtype.name}, llama.cpp keeps norms/biases F32")
        want = np.ascontiguousarray(gguf.quants.quantize(w, qtype)).view(np.uint8).reshape(-1)
        got = np.ascontiguousarray(t.data).view(np.uint8).reshape(-1)
        if want.shape != got.shape or not np.array_equal(want, got):
            deq = gguf.quants.dequantize(t.data, qtype).reshape(w.shape)
            problems.append(f"{name}: {qtype.name} bytes differ from gguf-py's encoding (max |diff| {np.abs(deq - w).max():.3g})")
    rope = config.get("rope_scaling") or config.get("rope_parameters") or {}
    if (rope.get("rope_type") or rope.get("type")) == "llama3":
        if "rope_freqs.weight" not in found:
            problems.append("rope_freqs.weight missing for llama3 rope scaling")
        else:
            import math
            base = rope.get("rope_theta", config.get("rope_theta", 10000.0))
            dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
            freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
            f, lo, hi, old = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"], rope["original_max_position_embeddings"]
            want = []
            for freq in freqs:   # llama.cpp conversion/llama.py, LlamaModel.generate_extra_tensors
                wl = 2 * math.pi / freq
                if wl < old / hi:
                    want.append(1)
                elif wl > old / lo:
                    want.append(f)
                else:
                    s = (old / wl - lo) / (hi - lo)
                    want.append(1 / ((1 - s) / f + s))
            want = torch.tensor(want, dtype=torch.float32).numpy()
            got = np.asarray(found["rope_freqs.weight"].data, dtype=np.float32)
            if np.abs(got - want).max() > 1e-5 * np.abs(want).max():
                problems.append(f"rope_freqs.weight {got} != {want}")
    return types


def check_tokenizer(reader, hf_dir, problems):
    model = scalar(reader, "tokenizer.ggml.model")
    tokens = field(reader, "tokenizer.ggml.tokens")
    if model == "llama":
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=os.path.join(hf_dir, "tokenizer.model"))
        scores = field(reader, "tokenizer.ggml.scores")
        for i in range(sp.get_piece_size()):
            if tokens[i] != sp.id_to_piece(i) or abs(scores[i] - sp.get_score(i)) > 0:
                problems.append(f"token {i}: {tokens[i]!r} score {scores[i]} != {sp.id_to_piece(i)!r} {sp.get_score(i)}")
                break
    elif model == "gpt2":
        tj = json.load(open(os.path.join(hf_dir, "tokenizer.json")))
        vocab = dict(tj["model"]["vocab"])
        vocab.update({a["content"]: a["id"] for a in tj["added_tokens"]})
        wrong = [p for p, i in vocab.items() if tokens[i] != p]
        if wrong:
            problems.append(f"tokens differ from tokenizer.json: {wrong[:5]}")
        merges = field(reader, "tokenizer.ggml.merges")
        if len(merges) != len(tj["model"]["merges"]):
            problems.append(f"{len(merges)} merges, tokenizer.json has {len(tj['model']['merges'])}")
    else:
        problems.append(f"tokenizer.ggml.model {model!r}")
    return {"model": model, "tokens": len(tokens), "pre": scalar(reader, "tokenizer.ggml.pre")}


def load_gguf_model(path, config=None):
    kwargs = {"gguf_file": os.path.basename(path), "dtype": torch.float32}
    if config is not None:
        kwargs["config"] = config
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(path)), **kwargs)
    return model.eval()


def compare_logits(path, hf_dir, use_hf_config, vocab):
    config = AutoConfig.from_pretrained(hf_dir) if use_hf_config else None
    theirs = load_gguf_model(path, config)
    ours = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).float().eval()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (3, 12), generator=g)
    with torch.inference_mode():
        a = theirs(input_ids=ids).logits
        b = ours(input_ids=ids).logits
    diff = (a - b).abs().max().item()
    return {"max_abs_diff": diff, "max_abs_logit": b.abs().max().item(),
            "argmax_agreement": (a.argmax(-1) == b.argmax(-1)).float().mean().item()}


def sst2_agreement(args, reader):
    import sentencepiece as spm
    import reference_real_model as ref
    from check_export import load_predictions
    rows = ref.read_tsv(os.path.join(args.data, f"{args.split}.tsv"))
    engine = load_predictions(args.predictions)
    assert len(engine) == len(rows), (len(engine), len(rows))
    config = AutoConfig.from_pretrained(args.base)
    if os.path.exists(os.path.join(args.base, "tokenizer.model")):
        sp = spm.SentencePieceProcessor(model_file=os.path.join(args.base, "tokenizer.model"))
        prefix = [config.bos_token_id if config.bos_token_id is not None else sp.bos_id()]
    else:
        sp = ref.FastTokenizerPrompts(args.base)
        prefix = sp.prefix
    cand = [ref.single_token(sp, c) for c in ref.CANDIDATES]
    prompts = [prefix + sp.encode(ref.TEMPLATE.format(sentence=s)) for s, _ in rows]

    # The tokenizer transformers rebuilds from the GGUF, on the same prompts (reported, not required).
    same_ids = None
    try:
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(args.gguf)), gguf_file=os.path.basename(args.gguf))
        same_ids = sum(int(prefix + tok(ref.TEMPLATE.format(sentence=s), add_special_tokens=False)["input_ids"] == p)
                       for (s, _), p in zip(rows, prompts))
    except Exception as e:  # noqa: BLE001 - a report, not a check
        log(f"transformers' GGUF tokenizer: {e}")

    t0 = time.perf_counter()
    model = load_gguf_model(args.gguf, config if args.config == "hf" else None)
    log(f"transformers loaded {args.gguf} as {type(model).__name__} in {time.perf_counter() - t0:.1f}s")
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    preds = [None] * len(prompts)
    margins = [None] * len(prompts)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            n = max(len(prompts[i]) for i in batch)
            ids = torch.zeros((len(batch), n), dtype=torch.long)
            mask = torch.zeros((len(batch), n), dtype=torch.long)
            for r, i in enumerate(batch):
                ids[r, :len(prompts[i])] = torch.tensor(prompts[i])
                mask[r, :len(prompts[i])] = 1
            # Only each row's last real position goes through the 262,144-row head (as the engine
            # and tools/reference/reference_real_model.py do): the full logits would double the work.
            hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
            last = torch.tensor([len(prompts[i]) - 1 for i in batch])
            logits = ref.last_position_logits(model, hidden[torch.arange(len(batch)), last])
            for r, i in enumerate(batch):
                lp = torch.log_softmax(logits[r].double(), -1)
                margins[i] = (lp[cand[1]] - lp[cand[0]]).item()
                preds[i] = int(margins[i] >= 0)
    seconds = time.perf_counter() - t0
    labels = [y for _, y in rows]
    differ = [i for i in range(len(rows)) if preds[i] != engine[i]]
    for i in differ[:10]:
        log(f"  row {i}: engine {engine[i]}, GGUF in transformers {preds[i]} (margin {margins[i]:+.2e})")
    return {
        "n": len(rows), "agreement": 1 - len(differ) / len(rows), "differing_rows": differ,
        "accuracy_gguf": sum(int(p == y) for p, y in zip(preds, labels)) / len(rows),
        "accuracy_engine": sum(int(p == y) for p, y in zip(engine, labels)) / len(rows),
        "gguf_tokenizer_same_prompts": same_ids, "seconds": seconds,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True, nargs="+", help="GGUF files (several only with --hf)")
    ap.add_argument("--hf", nargs="+", help="zofinetune export --format hf of the same weights: one folder for every "
                    "--gguf file, or one per file in the same order")
    ap.add_argument("--config", choices=["hf", "gguf"], help="config for transformers' GGUF load: the folder's (default "
                    "with --hf) or the one transformers reads from the GGUF (default with --predictions)")
    ap.add_argument("--base", help="base model folder (tokenizer, config) for --predictions")
    ap.add_argument("--predictions", help="zofinetune eval --predictions-out file of the same weights")
    ap.add_argument("--data")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-agreement", type=float, default=0.995)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    if args.predictions and len(args.gguf) > 1:
        raise SystemExit("--predictions checks one GGUF file at a time")
    if args.hf and len(args.hf) not in (1, len(args.gguf)):
        raise SystemExit(f"--hf: give one folder or one per --gguf file ({len(args.gguf)})")
    folders = (args.hf * len(args.gguf))[:len(args.gguf)] if args.hf and len(args.hf) == 1 else (args.hf or [None] * len(args.gguf))
    results = []
    for path, folder in zip(list(args.gguf), folders):
        args.hf_folder = folder
        results.append(check_file(path, args))
    ok = all(r["ok"] for r in results)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else {"files": results, "ok": ok}))
    sys.exit(0 if ok else 1)


def check_file(path, args):
    args.gguf = path
    reader = gguf.GGUFReader(path)
    arch = scalar(reader, "general.architecture")
    file_type = scalar(reader, "general.file_type")
    result = {"gguf": os.path.abspath(args.gguf), "architecture": arch, "file_type": file_type,
              "bytes": os.path.getsize(args.gguf)}
    problems = []
    hf = args.hf_folder
    if hf:
        result["tensor_types"] = check_tensors(reader, hf, arch, problems)
        result["tokenizer"] = check_tokenizer(reader, hf, problems)
        vocab = json.load(open(os.path.join(hf, "config.json")))["vocab_size"]
        result["logits"] = compare_logits(args.gguf, hf, args.config != "gguf", vocab)
        if file_type == 0 and result["logits"]["max_abs_diff"] > 1e-5:
            problems.append(f"f32 logits differ by {result['logits']['max_abs_diff']:.3g}")
        log(f"{args.gguf}: {arch}, file type {file_type}, tensors {result['tensor_types']}, "
            f"tokenizer {result['tokenizer']}, logits vs the HF folder {result['logits']}")
    if args.predictions:
        agreement = sst2_agreement(args, reader)
        result["sst2"] = agreement
        log(f"SST-2 {args.split}: agreement {agreement['agreement']:.4f} with the engine; accuracy GGUF "
            f"{agreement['accuracy_gguf']:.4f}, engine {agreement['accuracy_engine']:.4f}; "
            f"GGUF tokenizer gives the same ids on {agreement['gguf_tokenizer_same_prompts']} of {agreement['n']} prompts")
        if agreement["agreement"] < args.min_agreement:
            problems.append(f"agreement {agreement['agreement']:.4f} < {args.min_agreement}")
    result["problems"] = problems
    result["ok"] = not problems
    for p in problems:
        log(f"FAIL {path}: " + p)
    return result


if __name__ == "__main__":
    main()
