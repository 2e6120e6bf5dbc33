#!/usr/bin/env python3
"""transformers' losses and gradients of the two continuation-scored training losses on the real
Gemma-3-270M, for the Swift backprop test (Tests/TrainingTests/TaskGradientTests.swift, issue 10):

  python3 tools/reference/reference_task_gradients.py --model models/gemma-3-270m --data data/sst2 \\
      --out models/reference/gemma-3-270m-task-grads.safetensors

Examples: the first --n (4) sentences of SST-2 train.tsv (stripped), as a user's JSONL would hold
them: {"review": sentence, "sentiment": "negative" | "positive"}. Prompts are [bos] + SentencePiece
ids (tokenizer.model) of the template's text, words are tokenised alone, as the Swift tasks do.

complete.*  template "Review: {review}\\nSentiment:", target " " + sentiment (the first gold answer
            after a space, as MeZO's verbalizers put it; its ids are stored). Loss: transformers' own `labels=` loss of the batch of prompt + target, right-padded,
            labels -100 on the prompt's and the padding's positions: the mean cross-entropy over
            every target token of the batch.
classify.*  template "Review: {review}\\nThe movie was", labels negative = [" really bad", " terrible"],
            positive = [" really good", " great"] (alternatives; " really bad" is two tokens).
            log P(word | prompt) = sum over the word's tokens of log_softmax(logits over the whole
            vocabulary); a label's score = logsumexp over its words; loss = mean over examples of
            -log_softmax(scores)[label] (what LabelScorer and the MeZO loss compute). Each
            (prompt, word) pair runs as its own sequence, right-padded into one batch.

Stored per loss (prefix "complete." / "classify."), all F32:
  loss (1,)
  norm.<HF name>      (1,)   the L2 norm of d loss / d tensor, for EVERY parameter tensor
  grad.<HF name>             the full gradient of every 1-D tensor (the norms) and of every tensor
                             of layers --layers (default 0 and 17: first and last), so the file stays
                             ~90 MB instead of 2 x 1.07 GB
  embed_rows (R,)            embedding rows stored: every token of the batch and 256 other rows drawn
                             with a fixed seed (the tied head gives every row a gradient here)
  embed_grad (R, C)          d loss / d model.embed_tokens.weight at those rows
  prompt_<k>, target_<k>     ids (complete); prompt_<k>, word_<k>_<l>_<a> (classify); labels (B,)
float32, attn_implementation "eager", model.eval().
"""

import argparse
import csv
import os
import sys

import sentencepiece as spm
import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

EMBED = "model.embed_tokens.weight"
COMPLETE_TEMPLATE = "Review: {review}\nSentiment:"
CLASSIFY_TEMPLATE = "Review: {review}\nThe movie was"
LABEL_WORDS = [[" really bad", " terrible"], [" really good", " great"]]
NAMES = ["negative", "positive"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def read_train(path, n):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = [h.strip().lower() for h in rows[0]]
    s, y = header.index("sentence"), header.index("label")
    return [(r[s].strip(), int(r[y])) for r in rows[1:n + 1]]


def padded(sequences, pad):
    T = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), T), pad, dtype=torch.long)
    mask = torch.zeros((len(sequences), T), dtype=torch.long)
    for b, s in enumerate(sequences):
        ids[b, :len(s)] = torch.tensor(s)
        mask[b, :len(s)] = 1
    return ids, mask


def completion_loss(model, prompts, targets, pad):
    ids, mask = padded([p + t for p, t in zip(prompts, targets)], pad)
    labels = torch.full_like(ids, -100)
    for b, (p, t) in enumerate(zip(prompts, targets)):
        labels[b, len(p):len(p) + len(t)] = torch.tensor(t)
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


def classify_loss(model, prompts, words, labels, pad):
    """words[e][l][a]: ids of alternative a of label l after prompt e."""
    sequences, where = [], []
    for e, p in enumerate(prompts):
        for l, alts in enumerate(words[e]):
            for a, w in enumerate(alts):
                where.append((e, l, a, len(p), w))
                sequences.append(p + w)
    ids, mask = padded(sequences, pad)
    logits = model(input_ids=ids, attention_mask=mask).logits.float()  # (S, T, V)
    total = 0.0
    for e in range(len(prompts)):
        scores = []
        for l in range(len(words[e])):
            lps = []
            for s, (e2, l2, a, L, w) in enumerate(where):
                if e2 != e or l2 != l:
                    continue
                lp = torch.log_softmax(logits[s, L - 1:L - 1 + len(w)], dim=-1)
                lps.append(lp[torch.arange(len(w)), torch.tensor(w)].sum())
            scores.append(torch.logsumexp(torch.stack(lps), dim=0))
        scores = torch.stack(scores)
        total = total + (torch.logsumexp(scores, dim=0) - scores[labels[e]])
    return total / len(prompts)


def dump(prefix, model, loss, layers, token_rows, out, seed):
    model.zero_grad(set_to_none=True)
    loss.backward()
    out[prefix + "loss"] = torch.tensor([loss.item()], dtype=torch.float32)
    keep = tuple(f"model.layers.{l}." for l in layers)
    for name, p in model.named_parameters():
        g = p.grad.detach().float()
        out[f"{prefix}norm.{name}"] = torch.tensor([g.double().norm().item()], dtype=torch.float32)
        if name != EMBED and (g.dim() == 1 or name.startswith(keep)):
            out[f"{prefix}grad.{name}"] = g.contiguous()
    embed = model.model.embed_tokens.weight.grad.detach().float()
    gen = torch.Generator().manual_seed(seed)
    others = torch.randperm(embed.shape[0], generator=gen)[:256 + len(token_rows)].tolist()
    rows = sorted(set(token_rows) | set([r for r in others if r not in set(token_rows)][:256]))
    out[prefix + "embed_rows"] = torch.tensor(rows, dtype=torch.float32)
    out[prefix + "embed_grad"] = embed[torch.tensor(rows)].contiguous()
    log(f"{prefix} loss {loss.item():.6f}; {len(rows)} embedding rows kept")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/gemma-3-270m")
    ap.add_argument("--data", default=os.environ.get("SST2_DIR", "data/sst2"))
    ap.add_argument("--out", default="models/reference/gemma-3-270m-task-grads.safetensors")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--layers", type=int, nargs="+", default=[0, 17])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(args.model, "tokenizer.model"))
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager")
    model = model.float().eval()
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "expected a tied head"
    bos = model.config.bos_token_id
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    rows = read_train(os.path.join(args.data, "train.tsv"), args.n)
    labels = [y for _, y in rows]
    out = {"labels": torch.tensor(labels, dtype=torch.float32)}

    # Completion.
    prompts = [[bos] + sp.encode(COMPLETE_TEMPLATE.format(review=s)) for s, _ in rows]
    targets = [sp.encode(" " + NAMES[y]) for _, y in rows]
    for k, (p, t) in enumerate(zip(prompts, targets)):
        out[f"complete.prompt_{k}"] = torch.tensor(p, dtype=torch.float32)
        out[f"complete.target_{k}"] = torch.tensor(t, dtype=torch.float32)
    loss = completion_loss(model, prompts, targets, pad)
    dump("complete.", model, loss, args.layers, sorted({i for s in prompts + targets for i in s}), out, 0)

    # Classify with multi-token alternatives.
    prompts = [[bos] + sp.encode(CLASSIFY_TEMPLATE.format(review=s)) for s, _ in rows]
    words = [[[sp.encode(w) for w in alts] for alts in LABEL_WORDS] for _ in rows]
    assert any(len(w) > 1 for w in words[0][0] + words[0][1]), "expected a multi-token label word"
    for k, p in enumerate(prompts):
        out[f"classify.prompt_{k}"] = torch.tensor(p, dtype=torch.float32)
    for l, alts in enumerate(words[0]):
        for a, w in enumerate(alts):
            out[f"classify.word_{l}_{a}"] = torch.tensor(w, dtype=torch.float32)
    loss = classify_loss(model, prompts, words, labels, pad)
    tokens = {i for p in prompts for i in p} | {i for alts in words[0] for w in alts for i in w}
    dump("classify.", model, loss, args.layers, sorted(tokens), out, 1)

    meta = {"model": os.path.abspath(args.model), "complete_template": COMPLETE_TEMPLATE,
            "classify_template": CLASSIFY_TEMPLATE, "label_words": repr(LABEL_WORDS),
            "layers": repr(args.layers), "transformers": transformers.__version__, "torch": torch.__version__}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(out, args.out, metadata=meta)
    log(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
