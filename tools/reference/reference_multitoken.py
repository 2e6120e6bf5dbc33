#!/usr/bin/env python3
"""transformers' log-probabilities of multi-token candidates after 20 SST-2 dev prompts (issue 10).

  python3 tools/reference/reference_multitoken.py --model models/gemma-3-270m --data data/sst2 \\
      --out models/reference/gemma-3-270m-multitoken-logprobs.json

Prompts: [bos] + SentencePiece ids of "{sentence} It was" (the sst2 task's prompt) for the first
--n (20) dev sentences. Candidates: CANDIDATES below, tokenised alone with the folder's
tokenizer.model (several are 2-4 tokens). For each prompt and candidate c = (c_1..c_m), the
reference is sum_i log_softmax(logits at the position before c_i)[c_i] over the whole vocabulary,
from one forward pass of prompt + c (float32, eager attention, batch 1, no padding).
Also "labels_loss": transformers' own `labels=` loss (mean cross-entropy over the target's tokens,
the prompt's positions set to -100) of the whole batch of prompts, each followed by the target
TARGET, right-padded in one batch: the completion objective's loss.
Writes {"prompts": [[ids]], "candidates": [[ids]], "candidate_texts": [...], "logprobs": [[P x K]],
"target": [ids], "labels_loss": float}.
"""

import argparse
import csv
import json
import os

import sentencepiece as spm
import torch
from transformers import AutoConfig, AutoModelForCausalLM

TEMPLATE = "{sentence} It was"
TARGET = " a waste of time"
CANDIDATES = [" terrible", " great", " absolutely wonderful", " a waste of time", " so-so", " great"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="SST-2 folder with dev.tsv")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(args.model, "tokenizer.model"))
    config = AutoConfig.from_pretrained(args.model)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    bos = text_config.bos_token_id if text_config.bos_token_id is not None else sp.bos_id()

    with open(os.path.join(args.data, "dev.tsv"), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = [h.strip().lower() for h in rows[0]]
    col = next(header.index(c) for c in ("sentence", "content", "text") if c in header)
    sentences = [r[col].strip() for r in rows[1:args.n + 1]]
    prompts = [[bos] + sp.encode(TEMPLATE.format(sentence=s)) for s in sentences]
    candidates = [sp.encode(c) for c in CANDIDATES]

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager")
    model = model.float().eval()
    logprobs = []
    with torch.inference_mode():
        for p in prompts:
            row = []
            for c in candidates:
                ids = torch.tensor([p + c], dtype=torch.long)
                logits = model(input_ids=ids).logits[0].float()
                lp = torch.log_softmax(logits.double(), dim=-1)
                row.append(float(sum(lp[len(p) - 1 + i, t] for i, t in enumerate(c))))
            logprobs.append(row)
    target = sp.encode(TARGET)
    width = max(len(p) for p in prompts) + len(target)
    ids, labels, mask = [], [], []
    for p in prompts:
        pad = width - len(p) - len(target)
        ids.append(p + target + [0] * pad)
        labels.append([-100] * len(p) + target + [-100] * pad)
        mask.append([1] * (len(p) + len(target)) + [0] * pad)
    with torch.inference_mode():
        labels_loss = float(model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                                  labels=torch.tensor(labels)).loss)
    with open(args.out, "w") as f:
        json.dump({"prompts": prompts, "candidates": candidates, "candidate_texts": CANDIDATES,
                   "logprobs": logprobs, "target": target, "labels_loss": labels_loss}, f)
    print(f"wrote {args.out}: {len(prompts)} prompts x {len(candidates)} candidates "
          f"(token counts {[len(c) for c in candidates]})")


if __name__ == "__main__":
    main()
