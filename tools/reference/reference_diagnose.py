#!/usr/bin/env python3
"""Exact references for `zofinetune diagnose` on the tiny-gemma3 fixture, in float64 (PyTorch autograd).

The loss is the candidate loss of candidate_grads.safetensors (mean over the 3 sequences of the
cross-entropy of the label among 2 candidate ids' logits at the last real token), at the fixture's
weights promoted to float64. Writes, under Tests/Fixtures/tiny-gemma3/:

  diagnose_gradient.safetensors   ∇L per parameter (HF names), as two F32 tensors NAME.hi and NAME.lo
                                  with hi + lo = the float64 gradient to ~1e-14 relative (the reader
                                  has no F64), so zᵀ∇L can be checked to 1e-4 and far beyond.
  diagnose_reference.json         loss; the per-example-loss kernel K = J·Jᵀ (3 × 3) from per-example
                                  gradients; and on SUBSET (128 parameters; the full Hessian of all
                                  43,680 would take hours of HVPs on a shared machine) the exact block
                                  H_SS by double backprop: its trace, ‖H_SS‖_F², extreme eigenvalues,
                                  and the kernel J_S·J_Sᵀ.

Run from the repository root: python3 tools/reference/reference_diagnose.py   (about 1-3 min on 2 cores)
"""
import json
import os
import sys
import time

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import Gemma3ForCausalLM

torch.set_grad_enabled(True)
ROOT = os.path.join("Tests", "Fixtures", "tiny-gemma3")
# Parameters whose Hessian block is built exactly (128 elements: three norms of the last layer and the
# final norm, 4 × 32): small enough for H_SS by autograd in seconds even on 2 busy cores.
SUBSET = ["model.layers.3.input_layernorm.weight", "model.layers.3.pre_feedforward_layernorm.weight",
          "model.layers.3.post_feedforward_layernorm.weight", "model.norm.weight"]


def main():
    started = time.time()
    model = Gemma3ForCausalLM.from_pretrained(ROOT, dtype=torch.float32, attn_implementation="eager").double().eval()
    ref = load_file(os.path.join(ROOT, "reference.safetensors"))
    cand_file = load_file(os.path.join(ROOT, "candidate_grads.safetensors"))
    ids, mask = ref["input_ids"].long(), ref["attention_mask"].long()
    cand = cand_file["candidate_ids"].long()
    labels = cand_file["labels"].long()
    last = mask.sum(dim=1) - 1
    B = ids.shape[0]
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    sizes = [p.numel() for p in params]
    n = sum(sizes)

    def example_losses():
        # Each sequence alone, unpadded: in float64 the padded rows of a padded batch produce NaN
        # (a fully masked row), which 0-weight attention then spreads (0·NaN); alone, the logits at
        # real positions are the batch's (Tests/Fixtures/README.md: checked to 6e-6 in fp32).
        out = []
        for b in range(B):
            n_b = int(last[b]) + 1
            logits = model(input_ids=ids[b:b + 1, :n_b]).logits[0, n_b - 1]  # (V)
            out.append(-torch.log_softmax(logits[cand], dim=-1)[labels[b]])
        return torch.stack(out)  # (B,)

    losses = example_losses()
    loss = losses.mean()
    assert abs(loss.item() - cand_file["loss"].item()) < 1e-5, (loss.item(), cand_file["loss"].item())
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])  # (n) with its graph, for HVPs

    out = {}
    for name, g in zip(names, grads):
        g = g.detach()
        hi = g.float()
        out[name + ".hi"] = hi.contiguous()
        out[name + ".lo"] = (g - hi.double()).float().contiguous()
    save_file(out, os.path.join(ROOT, "diagnose_gradient.safetensors"), metadata={"format": "pt"})

    # Per-example gradients: the kernel K = J·Jᵀ of the per-example losses.
    rows = []
    for b in range(B):
        gb = torch.autograd.grad(losses[b], params, retain_graph=True)
        rows.append(torch.cat([g.reshape(-1) for g in gb]).detach())
    J = torch.stack(rows)  # (B, n)
    K = (J @ J.T).tolist()

    # The Hessian restricted to SUBSET (a principal submatrix H_SS, built exactly: one batched
    # Hessian-vector product per element of S). The Swift test perturbs only S, so its Hutchinson
    # and power-iteration estimates are of H_SS, and its kernel is J_S·J_Sᵀ.
    sub = [names.index(s_) for s_ in SUBSET]
    sub_params = [params[i] for i in sub]
    g_sub = torch.cat([grads[i].reshape(-1) for i in sub])  # (s) with its graph
    s_n = g_sub.numel()
    t0 = time.time()
    E = torch.eye(s_n, dtype=torch.float64)
    H = torch.cat([c.reshape(s_n, -1) for c in torch.autograd.grad(g_sub, sub_params, grad_outputs=E, retain_graph=True,
                                                                     is_grads_batched=True)], dim=1)  # (s, s)
    H = (H + H.T) / 2  # symmetric to rounding already; exactly so for eigvalsh
    print(f"  H_SS ({s_n} x {s_n}) in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    eig = torch.linalg.eigvalsh(H)
    J_sub = torch.stack([torch.cat([r[sum(sizes[:i]):sum(sizes[:i + 1])] for i in sub]) for r in rows])  # (B, s)
    K_sub = (J_sub @ J_sub.T).tolist()

    reference = {
        "what": "tools/reference/reference_diagnose.py: float64 PyTorch autograd on tiny-gemma3's candidate loss",
        "torch": torch.__version__,
        "parameters": n,
        "loss": loss.item(),
        "example_losses": losses.tolist(),
        "gradient_norm": flat_grad.detach().norm().item(),
        "kernel": K,
        "subset": SUBSET,
        "subset_size": s_n,
        "subset_trace_hessian": H.trace().item(),
        "subset_frobenius2_hessian": (H * H).sum().item(),
        "subset_lambda_max": eig[-1].item(),
        "subset_lambda_min": eig[0].item(),
        "subset_lambda_largest_magnitude": max(eig[-1].item(), -eig[0].item()),
        "subset_kernel": K_sub,
        "seconds": time.time() - started,
    }
    with open(os.path.join(ROOT, "diagnose_reference.json"), "w") as f:
        json.dump(reference, f, indent=2)
        f.write("\n")
    print(json.dumps(reference, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
