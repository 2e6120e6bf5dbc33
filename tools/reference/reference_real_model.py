#!/usr/bin/env python3
"""Reference numbers for a real HF causal LM folder (Gemma-3-270M) on SST-2, from transformers.

  python3 tools/reference/reference_real_model.py --model models/gemma-3-270m --data /work/shared/data/sst2 \\
      --out /work/shared/reference/gemma-3-270m-sst2-dev20.safetensors \\
      [--predictions /work/shared/reference/gemma-3-270m-sst2-dev-zeroshot.json]

Prompts are exactly what the Swift engine feeds: [bos] + SentencePiece ids of "{sentence} It was",
tokenised with the folder's tokenizer.model through the `sentencepiece` package (no other
normalisation), bos = config.bos_token_id (2 for Gemma). A folder with a tokenizer.json and no
tokenizer.model (byte-level BPE) is tokenised by transformers' AutoTokenizer instead, prefixed with
what its post-processor adds (see FastTokenizerPrompts).

(a) --out (safetensors, all F32): for the first --n-logits (20) dev sentences, each run alone (no
    padding, batch 1): `input_ids_<k>` (n_k,) ids as F32, `logits` (K, V) full-vocabulary logits at
    the last position, `last_hidden` (K, C) the final-norm output at the last position, `lengths` (K,).
(b) --predictions FILE (JSON): zero-shot predictions on every dev sentence: label 1 ("great") if
    log p(" great") >= log p(" terrible") at the last prompt position, else 0. Batched with right
    padding and an attention mask; the last real position is picked per row. Writes
    {"predictions", "accuracy", "seconds", "cpu_seconds", ...}; "seconds" (wall) covers tokenisation +
    forward passes for all sentences, not model loading. On a shared machine compare cpu_seconds /
    threads too: the load average before/after is recorded to show contention.

Computation: float32, attn_implementation given by --attn (default "eager"), torch threads
--threads (default 2), torch.inference_mode.
"""

import argparse
import csv
import json
import os
import sys
import time

import sentencepiece as spm
import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM

TEMPLATE = "{sentence} It was"
CANDIDATES = (" terrible", " great")  # label 0, label 1


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def read_tsv(path):
    """Rows of a TSV whose columns are found by header name (sentence/content/text, label)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = [h.strip().lower() for h in rows[0]]
    text_col = next((header.index(c) for c in ("sentence", "content", "text") if c in header), None)
    if text_col is None or "label" not in header:
        raise SystemExit(f"{path}: need a sentence/content/text column and a label column, got {header}")
    label_col = header.index("label")
    return [(r[text_col], int(r[label_col])) for r in rows[1:] if r]


def single_token(sp, text):
    ids = sp.encode(text)
    if len(ids) != 1:
        raise SystemExit(f"candidate {text!r} is not one token: {ids} {[sp.id_to_piece(i) for i in ids]}")
    return ids[0]


class FastTokenizerPrompts:
    """A folder without tokenizer.model (byte-level BPE tokenizer.json: Qwen, Llama 3, GPT-2) through
    transformers' own tokenizer, with the sentencepiece calls this script makes. The prompt's prefix is
    what the tokenizer's post-processor adds (tokenizer("", add_special_tokens=True)): <|begin_of_text|>
    for Llama 3, nothing for Qwen and GPT-2, as the Swift engine's bosID rule."""

    def __init__(self, folder):
        from transformers import AutoTokenizer
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.prefix = list(self.tokenizer("", add_special_tokens=True)["input_ids"])

    def encode(self, text):
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def id_to_piece(self, i):
        return self.tokenizer.convert_ids_to_tokens(i)

    def get_piece_size(self):
        return len(self.tokenizer)

    def bos_id(self):
        return self.prefix[0] if self.prefix else -1


def last_position_logits(model, hidden):
    """lm_head (+ final softcapping when configured) on (N, C) hidden states -> (N, V) f32 logits."""
    logits = model.lm_head(hidden).float()
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    return logits


def prompt_tokenizer(folder):
    """What the engine's SST-2 prompts are made with for a model folder: (text config, tokenizer with
    sentencepiece's encode/id_to_piece, the prefix ids before "{sentence} It was", the candidate ids
    of " terrible" and " great"). tools/check/check_trained_export.py builds its prompts with it too."""
    config = AutoConfig.from_pretrained(folder)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    if os.path.exists(os.path.join(folder, "tokenizer.model")):
        sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, "tokenizer.model"))
        bos = text_config.bos_token_id
        if bos is None:
            bos = sp.bos_id()
        if sp.bos_id() >= 0 and sp.bos_id() != bos:
            log(f"warning: config bos_token_id {bos} != tokenizer.model bos {sp.bos_id()}; using the config's")
        prefix = [bos]
    else:
        sp = FastTokenizerPrompts(folder)
        prefix = sp.prefix
    return text_config, sp, prefix, [single_token(sp, c) for c in CANDIDATES]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="HF folder: config.json, *.safetensors, tokenizer.model")
    ap.add_argument("--data", required=True, help="SST-2 folder with dev.tsv")
    ap.add_argument("--out", required=True, help="safetensors file for the first --n-logits prompts")
    ap.add_argument("--predictions", help="JSON file for zero-shot predictions on the whole dev split")
    ap.add_argument("--n-logits", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--attn", default="eager", choices=["eager", "sdpa"])
    ap.add_argument("--split", default="dev")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    text_config, sp, prefix, cand_ids = prompt_tokenizer(args.model)
    bos = prefix[0] if prefix else None
    pad = text_config.pad_token_id if text_config.pad_token_id is not None else 0
    log(f"bos={bos} pad={pad} candidates={dict(zip(CANDIDATES, cand_ids))} "
        f"pieces={[sp.id_to_piece(i) for i in cand_ids]} sp_vocab={sp.get_piece_size()}")

    rows = read_tsv(os.path.join(args.data, f"{args.split}.tsv"))
    t_tok = time.perf_counter()
    prompts = [prefix + sp.encode(TEMPLATE.format(sentence=s)) for s, _ in rows]
    tok_seconds = time.perf_counter() - t_tok
    lengths = [len(p) for p in prompts]
    tokens = {
        "n": len(prompts),
        "tokens_total": sum(lengths),
        "tokens_mean": sum(lengths) / len(lengths),
        "tokens_min": min(lengths),
        "tokens_max": max(lengths),
        "includes_bos": bool(prefix),
    }
    log(f"{args.split} prompts: {tokens['n']} sentences, {tokens['tokens_total']} tokens total, "
        f"mean {tokens['tokens_mean']:.2f}, min {tokens['tokens_min']}, max {tokens['tokens_max']} (with bos)")

    t_load = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation=args.attn)
    model = model.float().eval()
    log(f"loaded {type(model).__name__} ({sum(p.numel() for p in model.parameters())} parameters) "
        f"in {time.perf_counter() - t_load:.1f}s; transformers {transformers.__version__}, torch {torch.__version__}")
    if model.config.vocab_size != sp.get_piece_size():
        log(f"note: model vocab {model.config.vocab_size} != tokenizer.model pieces {sp.get_piece_size()}")

    # ---- (a) full logits at the last position, one prompt at a time ---------------------------------
    K = min(args.n_logits, len(prompts))
    out = {}
    logits_rows, hidden_rows = [], []
    with torch.inference_mode():
        for k in range(K):
            ids = torch.tensor([prompts[k]], dtype=torch.long)
            res = model(input_ids=ids, output_hidden_states=True, logits_to_keep=1)
            logits_rows.append(res.logits[0, -1].float())
            hidden_rows.append(res.hidden_states[-1][0, -1].float())  # after the final norm (transformers 5)
            out[f"input_ids_{k}"] = ids[0].float().contiguous()
    out["logits"] = torch.stack(logits_rows).contiguous()
    out["last_hidden"] = torch.stack(hidden_rows).contiguous()
    out["lengths"] = torch.tensor(lengths[:K], dtype=torch.float32)
    assert torch.allclose(last_position_logits(model, out["last_hidden"]), out["logits"], atol=1e-4)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    meta = {
        "model": os.path.abspath(args.model),
        "template": TEMPLATE,
        "bos": str(bos),
        "candidates": json.dumps(dict(zip(CANDIDATES, cand_ids))),
        "attn_implementation": args.attn,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    save_file(out, args.out, metadata=meta)
    lp = torch.log_softmax(out["logits"].double(), dim=-1)
    log(f"wrote {args.out}: logits {tuple(out['logits'].shape)}; first prompt ids {prompts[0]}")
    for k in range(min(K, 5)):
        log(f"  [{k}] n={lengths[k]} argmax={int(out['logits'][k].argmax())} "
            f"({sp.id_to_piece(int(out['logits'][k].argmax()))!r}) "
            f"logp great={lp[k, cand_ids[1]]:.4f} terrible={lp[k, cand_ids[0]]:.4f}")

    if not args.predictions:
        return

    # ---- (b) zero-shot predictions on the whole split, batched with right padding ----------------
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])  # similar lengths share a batch
    preds = [None] * len(prompts)
    lp_great = [None] * len(prompts)
    lp_terrible = [None] * len(prompts)
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for start in range(0, len(order), args.batch_size):
            idx = order[start : start + args.batch_size]
            T = max(lengths[i] for i in idx)
            ids = torch.full((len(idx), T), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), T), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, : lengths[i]] = torch.tensor(prompts[i])
                mask[r, : lengths[i]] = 1
            hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, C)
            last = torch.tensor([lengths[i] - 1 for i in idx])
            h = hidden[torch.arange(len(idx)), last]  # (B, C) last real position of each row
            logp = torch.log_softmax(last_position_logits(model, h).double(), dim=-1)
            for r, i in enumerate(idx):
                g, t = logp[r, cand_ids[1]].item(), logp[r, cand_ids[0]].item()
                lp_great[i], lp_terrible[i] = g, t
                preds[i] = 1 if g >= t else 0
    seconds = time.perf_counter() - t0 + tok_seconds
    cpu_seconds = time.process_time() - c0 + tok_seconds
    load_after = os.getloadavg()
    correct = sum(int(p == y) for p, (_, y) in zip(preds, rows))
    accuracy = correct / len(rows)

    # batched (padded) and single-sequence runs must agree on the first K prompts
    single_lp = torch.log_softmax(out["logits"].double(), dim=-1)
    drift = max(
        max(abs(single_lp[k, cand_ids[1]].item() - lp_great[k]), abs(single_lp[k, cand_ids[0]].item() - lp_terrible[k]))
        for k in range(K)
    )
    log(f"max |log-prob| difference batched vs single on the first {K}: {drift:.2e}")
    assert drift < 1e-3, drift

    result = {
        "task": "sst2",
        "split": args.split,
        "n": len(rows),
        "accuracy": accuracy,
        "correct": correct,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "loadavg_1min_before_after": [load_before[0], load_after[0]],
        "sentences_per_second": len(rows) / seconds,
        "tokens_per_second": tokens["tokens_total"] / seconds,
        "predictions": preds,
        "logprob_great": lp_great,
        "logprob_terrible": lp_terrible,
        "predicted_great": sum(preds),
        "template": TEMPLATE,
        "candidates": dict(zip(CANDIDATES, cand_ids)),
        "rule": "prediction 1 iff log p(great) >= log p(terrible) at the last real position",
        "tokens": tokens,
        "batch_size": args.batch_size,
        "padding": "right",
        "threads": args.threads,
        "attn_implementation": args.attn,
        "dtype": "float32",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "model": os.path.abspath(args.model),
    }
    with open(args.predictions, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    log(f"zero-shot {args.split}: accuracy {accuracy:.4f} ({correct}/{len(rows)}), {seconds:.1f}s, "
        f"(cpu {cpu_seconds:.1f}s over {args.threads} threads, load {load_before[0]:.1f}->{load_after[0]:.1f}), "
        f"{sum(preds)} predicted great; wrote {args.predictions}")


if __name__ == "__main__":
    main()
