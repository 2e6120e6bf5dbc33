#!/usr/bin/env python3
"""Time one backprop training step (SGD or AdamW) in PyTorch/transformers, fp32, on the batch the
Swift engine's `zofinetune bench --fo-steps` uses.

  python3 tools/bench/pytorch_fo_bench.py --model models/gemma-3-270m --data /work/shared/data/sst2 \\
      [--optimizer adamw] [--steps 3] [--batch-size 16] [--threads 2] [--head candidates|full] [--json]

Batch: the first --batch-size rows of train.tsv as SST-2 prompts (<bos> + "{sentence} It was"),
right-padded with an attention mask (tools/bench/pytorch_mezo_bench.py's make_batch). Loss: the batch mean
of the cross-entropy over the candidate logits (" terrible", " great") at each prompt's last real
position, the loss `zofinetune train` minimises.

--head candidates (default) computes only the two candidate rows of the tied output head from the
final hidden states (model.model(...) then hidden · E[cand]ᵀ), the same arithmetic as the Swift
engine; --head full lets the model compute the whole (B, T, 262144) logits as a plain
`model(...).logits` call does.

Step: zero_grad(set_to_none=True), forward, loss.backward(), clip_grad_norm_(inf) (the gradient norm
the Swift loop logs every step), optimizer.step(). torch.optim.SGD(lr) or torch.optim.AdamW(lr) with
PyTorch's defaults, model.train() (Gemma-3's dropout is 0). One warm-up step, then --steps timed
steps. Peak RSS = VmHWM. Human output to stderr; --json prints one JSON object on stdout.
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_mezo_bench import make_batch, proc_status_bytes  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def loss_fn(model, batch, head):
    rows = torch.arange(batch["input_ids"].shape[0])
    if head == "full":
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # (B, T, V)
        z = logits[rows, batch["last"]][:, batch["candidate_ids"]]  # (B, 2)
    else:
        hidden = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        last = hidden[rows, batch["last"]]  # (B, C)
        z = last @ model.lm_head.weight[batch["candidate_ids"]].T  # (B, 2); Gemma-3-270M has no final softcap
    return F.cross_entropy(z.float(), batch["labels"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/gemma-3-270m")
    ap.add_argument("--data", default=os.environ.get("SST2_DIR", "data/sst2"))
    ap.add_argument("--optimizer", choices=["sgd", "adamw"], default="adamw")
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--head", choices=["candidates", "full"], default="candidates")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    model.train()
    cfg = model.config
    assert getattr(cfg, "final_logit_softcapping", None) is None or a.head == "full", "candidate head assumes no softcap"
    batch = make_batch(a.model, a.data, a.batch_size, cfg.bos_token_id, cfg.pad_token_id or 0)
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr) if a.optimizer == "adamw" else torch.optim.SGD(params, lr=a.lr)

    times, backward_times, losses = [], [], []
    for step in range(a.steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model, batch, a.head)
        loss.backward()
        t1 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, float("inf"))
        opt.step()
        t2 = time.perf_counter()
        losses.append(loss.item())
        if step > 0:  # step 0 warms up and allocates gradients and moments
            times.append(t2 - t0)
            backward_times.append(t1 - t0)
    per_step = sum(times) / len(times)
    result = {
        "optimizer": a.optimizer, "head": a.head, "seconds_per_step": per_step, "min_seconds": min(times),
        "forward_backward_seconds": sum(backward_times) / len(times),
        "update_seconds": per_step - sum(backward_times) / len(times),
        "steps": a.steps, "batch_size": a.batch_size, "tokens": batch["tokens"], "threads": a.threads,
        "losses": losses, "peak_rss_bytes": proc_status_bytes("VmHWM"), "torch": torch.__version__,
    }
    log(f"PyTorch {a.optimizer} step ({a.head} head), batch {a.batch_size} ({batch['tokens']} tokens): "
        f"{per_step:.3f} s (forward+backward {result['forward_backward_seconds']:.3f} s); "
        f"peak RSS {result['peak_rss_bytes'] / 1e9:.2f} GB")
    if a.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
