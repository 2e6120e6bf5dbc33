#!/usr/bin/env python3
"""transformers' gradient of the SST-2 candidate loss on a real model (Gemma-3-270M), for the Swift
backprop test (Tests/ModelsTests/RealGemmaGradientTests.swift).

  python3 tools/reference/reference_real_gradients.py --model models/gemma-3-270m --data /work/shared/data/sst2 \\
      --out models/reference/gemma-3-270m-sst2-grads.safetensors [--check-f64]

Batch: the first --n (16) sentences of train.tsv, each prompt exactly what the Swift engine feeds:
[bos] + SentencePiece ids of "{sentence} It was" (tokenizer.model through the `sentencepiece`
package), right-padded into one (B, T) batch with an attention mask.

Loss (the trainer's `.candidates`): z[b] = logits of the candidate ids (" terrible" = label 0,
" great" = label 1) at row b's last real position, computed from the last hidden state and only
those rows of the (tied) output embedding; loss = mean over b of -log softmax(z[b])[label[b]]
(labels from train.tsv). float32, attn_implementation "eager", model.eval() (no dropout).

Output (safetensors, all F32):
  <HF name>              d loss / d parameter for every parameter except the embedding
  embed_rows             (R,)    the embedding rows that get a gradient: every distinct input token and
                                 both candidates, ascending (stored as F32; exact below 2^24)
  embed_grad             (R, C)  d loss / d model.embed_tokens.weight at those rows (input-embedding and
                                 output-head contributions summed); every other row is exactly 0
                                 (checked), which saves 670 MB of zeros
  input_ids_<k>          (n_k,)  prompt k's ids
  labels                 (B,)    candidate_ids (K,)    loss (1,)
Metadata: versions, timing of one zero_grad + forward + backward (--repeats runs, the best and all;
gradients kept allocated between runs as in a training loop), and with
--check-f64 the per-tensor relative L2 distance of this f32 gradient from a float64 run, i.e. how
far the reference itself is from the exact gradient (sets the tolerance the Swift test can use).
"""

import argparse
import json
import os
import sys
import time

import sentencepiece as spm
import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_real_model import CANDIDATES, TEMPLATE, read_tsv, single_token  # noqa: E402

EMBED = "model.embed_tokens.weight"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def candidate_loss(model, ids, mask, cand, labels):
    """Mean over rows of -log softmax(z)[label], z = last-real-position logits of the candidates."""
    hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, C)
    last = mask.sum(dim=1) - 1
    h = hidden[torch.arange(ids.shape[0]), last]  # (B, C)
    z = h @ model.lm_head.weight[cand].T  # (B, K): only the candidate rows of the tied head
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap is not None:
        z = torch.tanh(z / cap) * cap
    return torch.nn.functional.cross_entropy(z, labels)


def gradients(model, ids, mask, cand, labels):
    model.zero_grad(set_to_none=True)
    loss = candidate_loss(model, ids, mask, cand, labels)
    loss.backward()
    return loss.item(), {n: p.grad.detach().clone() for n, p in model.named_parameters()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/gemma-3-270m")
    ap.add_argument("--data", default=os.environ.get("SST2_DIR", "data/sst2"), help="SST-2 folder with train.tsv")
    ap.add_argument("--out", default="models/reference/gemma-3-270m-sst2-grads.safetensors")
    ap.add_argument("--n", type=int, default=16, help="first N train sentences")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed forward+backward runs")
    ap.add_argument("--check-f64", action="store_true", help="also run in float64 and report the f32 error")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(args.model, "tokenizer.model"))
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager")
    model = model.float().eval()
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "expected a tied head"
    bos = model.config.bos_token_id
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    cand = [single_token(sp, c) for c in CANDIDATES]

    rows = read_tsv(os.path.join(args.data, "train.tsv"))[: args.n]
    prompts = [[bos] + sp.encode(TEMPLATE.format(sentence=s)) for s, _ in rows]
    labels = torch.tensor([y for _, y in rows])
    lengths = [len(p) for p in prompts]
    T = max(lengths)
    ids = torch.full((len(prompts), T), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), T), dtype=torch.long)
    for b, p in enumerate(prompts):
        ids[b, : len(p)] = torch.tensor(p)
        mask[b, : len(p)] = 1
    log(f"{len(prompts)} prompts, {sum(lengths)} tokens (max {T}), candidates {dict(zip(CANDIDATES, cand))}, "
        f"labels {labels.tolist()}")

    loss, grads = gradients(model, ids, mask, cand, labels)  # also the warm-up run
    # Timed: zero_grad (kept allocated, as a training loop does) + forward + backward, no copies.
    times = []
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        model.zero_grad(set_to_none=False)
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=False)
        again = candidate_loss(model, ids, mask, cand, labels)
        again.backward()
        times.append(time.perf_counter() - t0)
        assert abs(again.item() - loss) < 1e-6
    load_after = os.getloadavg()[0]
    log(f"loss {loss:.6f}; forward+backward {min(times):.2f}s best of {times} "
        f"(load average {load_before:.1f} -> {load_after:.1f})")

    embed = grads.pop(EMBED)
    used = sorted(set(ids[mask == 1].tolist()) | set(cand))
    rows_t = torch.tensor(used)
    others = torch.ones(embed.shape[0], dtype=torch.bool)
    others[rows_t] = False
    assert embed[others].abs().max().item() == 0.0, "gradient outside the input/candidate rows"

    out = {name: g.float().contiguous() for name, g in grads.items()}
    out["embed_rows"] = rows_t.float()
    out["embed_grad"] = embed[rows_t].float().contiguous()
    for k, p in enumerate(prompts):
        out[f"input_ids_{k}"] = torch.tensor(p, dtype=torch.float32)
    out["labels"] = labels.float()
    out["candidate_ids"] = torch.tensor(cand, dtype=torch.float32)
    out["loss"] = torch.tensor([loss], dtype=torch.float32)

    meta = {
        "model": os.path.abspath(args.model),
        "template": TEMPLATE,
        "candidates": json.dumps(dict(zip(CANDIDATES, cand))),
        "loss": "mean over rows of -log softmax(candidate logits at the last real position)[label]",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "threads": str(args.threads),
        "seconds_forward_backward_best": f"{min(times):.3f}",
        "seconds_forward_backward_all": json.dumps([round(t, 3) for t in times]),
        "loadavg_before_after": json.dumps([load_before, load_after]),
    }

    if args.check_f64:
        model64 = model.double()
        loss64, g64 = gradients(model64, ids, mask, cand, labels)
        e64 = g64.pop(EMBED)
        rel = {}
        for name, g in grads.items():
            ref = g64[name]
            rel[name] = ((g.double() - ref).norm() / ref.norm().clamp_min(1e-300)).item()
        rel[EMBED] = ((embed.double() - e64).norm() / e64.norm()).item()
        worst = max(rel, key=rel.get)
        log(f"f64 loss {loss64:.9f} (f32 {loss:.9f}); f32 vs f64 gradient: max per-tensor relative L2 "
            f"{rel[worst]:.2e} ({worst}), median {sorted(rel.values())[len(rel) // 2]:.2e}")
        meta["f64_loss"] = repr(loss64)
        meta["f32_vs_f64_rel_l2_max"] = f"{rel[worst]:.3e}"
        meta["f32_vs_f64_rel_l2_worst_tensor"] = worst
        meta["f32_vs_f64_rel_l2"] = json.dumps({k: float(f"{v:.3e}") for k, v in rel.items()})

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(out, args.out, metadata=meta)
    log(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.0f} MB, {len(used)} embedding rows)")


if __name__ == "__main__":
    main()
