#!/usr/bin/env python3
"""Time one MeZO step in PyTorch, written the way princeton-nlp/MeZO's trainer does it.

  python3 tools/bench/pytorch_mezo_bench.py --model models/gemma-3-270m --data /work/shared/data/sst2 \\
      [--steps 3] [--batch-size 16] [--threads 2] [--json]

This is the baseline the Swift engine is measured against, so it follows the official code
(princeton-nlp/MeZO, large_models/trainer.py: zo_perturb_parameters, zo_forward, zo_step, zo_update)
rather than anything faster:

  * every named parameter with requires_grad is perturbed; before each pass over the parameters the
    global generator is reseeded (`torch.manual_seed(seed)`) and a fresh z tensor of the parameter's
    size is drawn per parameter (`torch.normal(mean=0, std=1, size=..., device=..., dtype=...)`),
    then `param.data = param.data + scaling_factor * z * eps` (new tensors, not in place);
  * a step is: perturb +1, loss1, perturb -2, loss2, projected_grad = (loss1 - loss2) / (2 eps),
    perturb +1 (restore), then the update pass regenerates z from the same seed:
    `param.data = param.data - lr * (projected_grad * z + weight_decay * param.data)`, without the
    decay term for bias and norm parameters; the seed of each step is np.random.randint(1e9);
  * forwards run in eval mode under torch.inference_mode().

Model: AutoModelForCausalLM.from_pretrained(MODEL, dtype=float32, or bfloat16 with --dtype bfloat16 as
MeZO's --load_bfloat16 in large_models/run.py) (transformers 5 spelling of torch_dtype),
transformers' default attention implementation unless --attn is given. Tied embeddings
are one parameter in named_parameters(), so the 262,144 x 640 embedding is perturbed once per pass.

Loss: SST-2 as MeZO poses it: prompt <bos> + "{sentence} It was" (SentencePiece ids from the folder's
tokenizer.model, bos = config.bos_token_id; a byte-level BPE folder such as Qwen2.5 through
transformers' tokenizer, prefixed with what its post-processor adds, as the engine), label words " terrible" (0) and " great" (1), each one
token. The batch is the first --batch-size rows of train.tsv, right-padded with an attention mask. The
loss is the batch mean of the cross-entropy over the two candidate logits at each prompt's last real
position. The model computes the full-vocabulary logits (B, T, 262144) as a plain transformers call
does (what a PyTorch user would write); the Swift engine computes only the two candidate rows.

Timing: one warm-up step, then --steps timed steps. Reported: seconds per step (mean, min); the
forward share (the two zo_forward calls) and the perturbation/update share (three perturbation passes
and the update pass); process CPU seconds per step (on a shared machine wall time includes waiting);
peak RSS = VmHWM from /proc/self/status (the whole process, loading included; also the timed steps'
own peak, VmHWM being reset after the warm-up through /proc/self/clear_refs). Human output goes to stderr;
--json prints one JSON object on stdout.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
import transformers
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from reference_real_model import CANDIDATES, TEMPLATE, FastTokenizerPrompts, read_tsv, single_token  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def proc_status_bytes(field):
    """A kB field of /proc/self/status (VmHWM, VmRSS) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux: "5" to /proc/self/clear_refs); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def make_batch(model_dir, data_dir, batch_size, bos, pad):
    """First batch_size rows of train.tsv as right-padded ids, mask, last real positions, labels."""
    sp_path = os.path.join(model_dir, "tokenizer.model")
    sp = spm.SentencePieceProcessor(model_file=sp_path) if os.path.exists(sp_path) else FastTokenizerPrompts(model_dir)
    if isinstance(sp, FastTokenizerPrompts):
        bos = sp.bos_id() if sp.prefix else None  # what the post-processor adds: nothing for Qwen2
    cand_ids = [single_token(sp, c) for c in CANDIDATES]
    rows = read_tsv(os.path.join(data_dir, "train.tsv"))[:batch_size]
    if len(rows) < batch_size:
        raise SystemExit(f"train.tsv has only {len(rows)} rows, fewer than --batch-size {batch_size}")
    prompts = [([bos] if bos is not None else []) + sp.encode(TEMPLATE.format(sentence=s)) for s, _ in rows]
    lengths = [len(p) for p in prompts]
    T = max(lengths)
    ids = torch.full((batch_size, T), pad, dtype=torch.long)  # (B, T)
    mask = torch.zeros((batch_size, T), dtype=torch.long)  # (B, T)
    for r, p in enumerate(prompts):
        ids[r, : len(p)] = torch.tensor(p)
        mask[r, : len(p)] = 1
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "last": torch.tensor([n - 1 for n in lengths]),  # (B,) last real position per row
        "labels": torch.tensor([y for _, y in rows]),  # (B,) 0 = " terrible", 1 = " great"
        "candidate_ids": torch.tensor(cand_ids),  # (2,) in label order
        "tokens": sum(lengths),
        "padded_shape": (batch_size, T),
    }


def candidate_loss(model, batch):
    """Mean cross-entropy over the two candidate logits at each row's last real position."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    logits = out.logits  # (B, T, V): full vocabulary, as transformers computes it
    rows = torch.arange(logits.shape[0])
    cand = logits[rows, batch["last"]][:, batch["candidate_ids"]].float()  # (B, 2)
    return F.cross_entropy(cand, batch["labels"])


class OfficialStyleMeZO:
    """MeZO-SGD as in princeton-nlp/MeZO's trainer, plus wall-clock accounting per phase."""

    def __init__(self, model, lr, eps, weight_decay):
        self.model = model
        self.lr = lr
        self.eps = eps
        self.weight_decay = weight_decay
        self.named_parameters_to_optim = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.zo_random_seed = None
        self.projected_grad = None
        self.forward_seconds = 0.0
        self.perturb_update_seconds = 0.0
        self.forward_cpu = 0.0
        self.perturb_update_cpu = 0.0

    def zo_perturb_parameters(self, random_seed=None, scaling_factor=1):
        t0, c0 = time.perf_counter(), time.process_time()
        # The same seed gives the same z in every pass (perturb, restore, update).
        torch.manual_seed(random_seed if random_seed is not None else self.zo_random_seed)
        for name, param in self.named_parameters_to_optim:
            z = torch.normal(mean=0, std=1, size=param.data.size(), device=param.data.device, dtype=param.data.dtype)
            param.data = param.data + scaling_factor * z * self.eps
        self.perturb_update_seconds += time.perf_counter() - t0
        self.perturb_update_cpu += time.process_time() - c0

    def zo_forward(self, batch):
        t0, c0 = time.perf_counter(), time.process_time()
        self.model.eval()
        with torch.inference_mode():
            loss = candidate_loss(self.model, batch)
        self.forward_seconds += time.perf_counter() - t0
        self.forward_cpu += time.process_time() - c0
        return loss.detach()

    def zo_step(self, batch):
        self.zo_random_seed = np.random.randint(1000000000)
        self.zo_perturb_parameters(scaling_factor=1)
        loss1 = self.zo_forward(batch)
        self.zo_perturb_parameters(scaling_factor=-2)
        loss2 = self.zo_forward(batch)
        self.projected_grad = ((loss1 - loss2) / (2 * self.eps)).item()
        self.zo_perturb_parameters(scaling_factor=1)  # back to the parameters at the start of the step
        return loss1, loss2

    def zo_update(self):
        t0, c0 = time.perf_counter(), time.process_time()
        torch.manual_seed(self.zo_random_seed)
        for name, param in self.named_parameters_to_optim:
            z = torch.normal(mean=0, std=1, size=param.data.size(), device=param.data.device, dtype=param.data.dtype)
            # The official test is on "bias"/"layer_norm"/"layernorm"; Gemma's norms are named
            # *_layernorm, q_norm, k_norm and model.norm, so "norm" catches all of them.
            if "bias" not in name and "norm" not in name:
                param.data = param.data - self.lr * (self.projected_grad * z + self.weight_decay * param.data)
            else:
                param.data = param.data - self.lr * (self.projected_grad * z)
        self.perturb_update_seconds += time.perf_counter() - t0
        self.perturb_update_cpu += time.process_time() - c0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="HF folder: config.json, model.safetensors, tokenizer.model")
    ap.add_argument("--data", required=True, help="SST-2 folder with train.tsv")
    ap.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-6)
    ap.add_argument("--eps", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0, help="numpy seed for the per-step z seeds")
    ap.add_argument("--attn", default=None, choices=["eager", "sdpa"], help="default: transformers' choice")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                    help="weights' dtype: bfloat16 is MeZO's --load_bfloat16 (large_models/run.py)")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = ap.parse_args()
    if args.steps < 1 or args.batch_size < 1 or args.threads < 1:
        raise SystemExit("--steps, --batch-size and --threads must be positive")

    torch.set_num_threads(args.threads)
    np.random.seed(args.seed)

    t_load = time.perf_counter()
    kwargs = {"dtype": getattr(torch, args.dtype)}
    if args.attn:
        kwargs["attn_implementation"] = args.attn
    model = AutoModelForCausalLM.from_pretrained(args.model, **kwargs)
    model.eval()
    load_seconds = time.perf_counter() - t_load
    config = model.config
    bos = config.bos_token_id
    pad = config.pad_token_id if config.pad_token_id is not None else 0
    batch = make_batch(args.model, args.data, args.batch_size, bos, pad)
    rss_after_load = proc_status_bytes("VmRSS")
    attn = getattr(config, "_attn_implementation", None)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"loaded {type(model).__name__} ({n_params} parameters, attn {attn}) in {load_seconds:.1f}s, "
        f"RSS {rss_after_load / 2**30:.2f} GiB; transformers {transformers.__version__}, torch {torch.__version__}, "
        f"{args.threads} threads")
    log(f"batch: first {args.batch_size} train rows, padded {batch['padded_shape']}, {batch['tokens']} real tokens, "
        f"candidates {dict(zip(CANDIDATES, batch['candidate_ids'].tolist()))}")

    mezo = OfficialStyleMeZO(model, args.lr, args.eps, args.weight_decay)
    timed = []  # per timed step: wall, cpu (user, sys), forward/perturb wall and cpu, losses
    load_before = os.getloadavg()
    for step in range(args.steps + 1):  # step 0 is the warm-up
        mezo.forward_seconds = mezo.perturb_update_seconds = 0.0
        mezo.forward_cpu = mezo.perturb_update_cpu = 0.0
        t0, c0 = time.perf_counter(), os.times()
        loss1, loss2 = mezo.zo_step(batch)
        mezo.zo_update()
        wall, c1 = time.perf_counter() - t0, os.times()
        user, system = c1.user - c0.user, c1.system - c0.system
        tag = "warm-up" if step == 0 else f"step {step}"
        log(f"{tag}: {wall:.2f}s (cpu {user:.1f}s user + {system:.1f}s sys): "
            f"forward {mezo.forward_seconds:.2f}s (cpu {mezo.forward_cpu:.1f}s), "
            f"perturb/update {mezo.perturb_update_seconds:.2f}s (cpu {mezo.perturb_update_cpu:.1f}s); "
            f"loss+ {loss1.item():.5f} loss- {loss2.item():.5f} g {mezo.projected_grad:+.4f}")
        if step == 0:
            # Peak so far covers loading and the warm-up (whose first pass replaces the mmap'ed
            # weights with fresh tensors); reset it so the timed steps' own peak is visible too.
            peak_warmup = proc_status_bytes("VmHWM")
            steady = reset_peak_rss()
        else:
            timed.append({
                "wall": wall, "user": user, "sys": system,
                "forward": mezo.forward_seconds, "forward_cpu": mezo.forward_cpu,
                "perturb_update": mezo.perturb_update_seconds, "perturb_update_cpu": mezo.perturb_update_cpu,
                "losses": [loss1.item(), loss2.item()],
            })
    load_after = os.getloadavg()
    peak_steps = proc_status_bytes("VmHWM") if steady else None
    peak = max(peak_warmup, peak_steps or 0)

    n = len(timed)

    def mean(key):
        return sum(t[key] for t in timed) / n

    result = {
        "seconds_per_step": mean("wall"),
        "seconds_per_step_min": min(t["wall"] for t in timed),
        "forward_seconds": mean("forward"),
        "perturb_update_seconds": mean("perturb_update"),
        "cpu_seconds_per_step": mean("user") + mean("sys"),
        "cpu_user_seconds_per_step": mean("user"),
        "cpu_sys_seconds_per_step": mean("sys"),
        "forward_cpu_seconds": mean("forward_cpu"),
        "perturb_update_cpu_seconds": mean("perturb_update_cpu"),
        "peak_rss_bytes": peak,
        "peak_rss_timed_steps_bytes": peak_steps,
        "rss_after_load_bytes": rss_after_load,
        "steps": n,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "tokens": batch["tokens"],
        "padded_shape": list(batch["padded_shape"]),
        "losses": [t["losses"] for t in timed],
        "lr": args.lr,
        "eps": args.eps,
        "weight_decay": args.weight_decay,
        "dtype": args.dtype,
        "parameters": n_params,
        "attn_implementation": attn,
        "logits": "full vocabulary (B, T, V) from the transformers forward",
        "loadavg_1min_before_after": [load_before[0], load_after[0]],
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    log(f"MeZO step (official style), batch {args.batch_size}, {args.threads} threads, {n} timed steps: "
        f"{result['seconds_per_step']:.2f} s/step mean, {result['seconds_per_step_min']:.2f} min "
        f"(cpu {result['cpu_seconds_per_step']:.1f} s/step, of which sys {result['cpu_sys_seconds_per_step']:.1f}); "
        f"forward {result['forward_seconds']:.2f} s (cpu {result['forward_cpu_seconds']:.1f}), "
        f"perturb/update {result['perturb_update_seconds']:.2f} s (cpu {result['perturb_update_cpu_seconds']:.1f}) "
        f"per step; peak RSS (VmHWM) "
        f"{peak / 2**30:.2f} GiB ({peak} bytes)"
        + (f", {peak_steps / 2**30:.2f} GiB over the timed steps alone" if peak_steps else "")
        + f"; load {load_before[0]:.1f}->{load_after[0]:.1f}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
