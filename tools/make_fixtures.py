#!/usr/bin/env python3
"""Build tiny random HF models and dump PyTorch/transformers reference outputs for the Swift tests.

For every fixture NAME this writes, under Tests/Fixtures/NAME/:

  config.json, model.safetensors   save_pretrained(safe_serialization=True), all tensors F32
  reference.safetensors            inputs and forward outputs (all F32, see below)
  grads.safetensors                d loss / d parameter for every parameter, HF names, F32
  expected.json                    scalar facts and the recommended tolerances

reference.safetensors holds (B = 3 sequences, T = 11, right padding, real lengths 11, 7, 4):

  input_ids       (B, T)     token ids stored as F32 (exact for ids < 2^24); padded slots hold pad id 0
  attention_mask  (B, T)     1 on real tokens, 0 on padding
  embeddings      (B, T, C)  output of the embedding layer (Gemma: already multiplied by sqrt(C))
  layer_<l>       (B, T, C)  residual stream after decoder layer l (l = 0 .. L-1), before the final norm
  last_hidden     (B, T, C)  output of the final RMSNorm (= HF `last_hidden_state`)
  logits          (B, T, V)  lm_head(last_hidden), every position
  loss            (1,)       HF causal-LM loss: mean over real positions t < len-1 of
                             -log softmax(logits[b, t])[ids[b, t+1]]  (11-1 + 7-1 + 4-1 = 19 terms)

candidate_grads.safetensors (written by `--candidates-only` too, from the saved model and reference,
so it can be added without touching the other files) holds the gradient of the *candidate loss*
the SST-2 trainer uses (K = 2 candidate token ids, one label per sequence):

  z[b]            (K,)       logits of the candidate ids at sequence b's last real position
  loss            (1,)       mean over b of -log softmax(z[b])[label[b]]
  candidate_ids   (K,)       as F32: a token that also occurs in the input (so a tied embedding row
                             gets both an input and an output gradient) and one that does not
  labels          (B,)       as F32, index into candidate_ids: [1, 0, 1]
  <HF name>                  d loss / d parameter for every tensor of model.safetensors, F32

optimizer_steps.safetensors (written by `--optimizers-only` too; tiny-gemma3 and tiny-qwen2, the
latter for its biases) holds the parameters after 3 steps of PyTorch's optimizers on that same
candidate loss and batch, every step: loss.backward(), clip_grad_norm_(params, 0.5), opt.step():

  sgd.<HF name>     torch.optim.SGD(lr=0.05), no momentum, weight decay 0.01
  adamw.<HF name>   torch.optim.AdamW(lr=0.01, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
  sgd_grad_norms, adamw_grad_norms   (3,) the norms clip_grad_norm_ returned (before clipping)

Weight decay goes to matrices and embeddings only (a second parameter group with weight_decay 0
holds norm weights and biases), which is zofinetune's rule for every optimizer.

Values at padded positions are whatever transformers computes there; tests must compare real
positions only (attention_mask == 1).

Everything is computed in float32 with attn_implementation="eager", model.eval(), dropout off.
Run from the repository root:  python3 tools/make_fixtures.py
"""

import argparse
import json
import math
import os
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

SEED = 1234
LENGTHS = [11, 7, 4]  # right padding to T = max(LENGTHS)
PAD_ID = 0
# Recommended tolerances for an f32 engine against these references (see README).
LOGITS_ATOL = 1e-4
HIDDEN_ATOL = 1e-4
LOSS_ATOL = 1e-5
GRAD_ATOL = 1e-4
GRAD_RTOL = 1e-3


def gemma3_config():
    # Kept small so that every file stays < 200 KB (the brief's hidden 48 / intermediate 96 would be
    # ~370 KB). head_dim 16 != hidden/heads = 8, query_pre_attn_scalar 24 != head_dim, window 4 < T.
    return Gemma3TextConfig(
        vocab_size=128,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        query_pre_attn_scalar=24,
        sliding_window=4,
        layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
        rope_theta=1_000_000.0,
        rope_local_base_freq=10_000.0,
        rms_norm_eps=1e-6,
        hidden_activation="gelu_pytorch_tanh",
        tie_word_embeddings=True,
        final_logit_softcapping=None,
        attn_logit_softcapping=None,
        max_position_embeddings=64,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=1,
        attention_bias=False,
    )


def llama_config():
    # hidden 32 (not 64) to keep model.safetensors < 200 KB with untied embeddings.
    return LlamaConfig(
        vocab_size=128,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_theta=10_000.0,
        rms_norm_eps=1e-5,
        hidden_act="silu",
        tie_word_embeddings=False,
        max_position_embeddings=64,
        attention_bias=False,
        mlp_bias=False,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )


def qwen2_config():
    return Qwen2Config(
        vocab_size=112,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        hidden_act="silu",
        tie_word_embeddings=True,
        max_position_embeddings=64,
        use_sliding_window=False,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )


def qwen3_config():
    # q/k RMSNorm per head, no biases; head_dim 16 != hidden/heads = 8; untied (Qwen3-4B and up).
    return Qwen3Config(
        vocab_size=112,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        hidden_act="silu",
        tie_word_embeddings=False,
        max_position_embeddings=64,
        use_sliding_window=False,
        attention_bias=False,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )


def llama3_config():
    # Llama 3.2's shape in miniature: rope_type "llama3", tied embeddings, head_dim 16 != hidden/heads.
    # rope_theta 100 and original_max_position_embeddings 32 put the 8 frequencies of a 16-wide head
    # in all three regimes (wavelengths 6.3 < 8 kept; 11, 20 interpolated; 35 ... 353 > 32 slowed by 8)
    # at positions < 11, where the default RoPE would differ by up to ~0.5 rad.
    return LlamaConfig(
        vocab_size=128,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        rope_parameters={"rope_type": "llama3", "rope_theta": 100.0, "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
        rms_norm_eps=1e-5,
        hidden_act="silu",
        tie_word_embeddings=True,
        max_position_embeddings=64,
        attention_bias=False,
        mlp_bias=False,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )


FIXTURES = {
    # name: (config factory, model class, norm weights ~ mean + std * N(0,1), q/k-norm mean)
    "tiny-gemma3": (gemma3_config, Gemma3ForCausalLM),
    "tiny-llama": (llama_config, LlamaForCausalLM),
    "tiny-qwen2": (qwen2_config, Qwen2ForCausalLM),
    "tiny-qwen3": (qwen3_config, Qwen3ForCausalLM),
    "tiny-llama3": (llama3_config, LlamaForCausalLM),
}


def randomise(model, model_type, gen):
    """Re-draw every parameter so that mistakes cannot hide.

    HF initialises linear weights with std 0.02, which makes attention almost uniform (a wrong mask
    or RoPE would then barely change the output), and norm weights to 0 (Gemma) or 1 (Llama), which
    hides a missing `1 +` or a norm applied in the wrong place. So:
      * every Linear / Embedding weight ~ N(0, 1/sqrt(fan_in)) (embedding (V, C): N(0, 1/sqrt(C)), so
        tied logits are O(1)), biases ~ N(0, 0.5);
      * Gemma RMSNorm weights w ~ N(0, 0.5) (the layer scales by 1 + w), except q_norm / k_norm
        ~ N(0.5, 0.5) so that attention scores are large enough to make the softmax peaked;
      * Llama / Qwen2 RMSNorm weights ~ N(1, 0.3).
    """
    with torch.no_grad():
        for name, p in model.named_parameters():
            shape = tuple(p.shape)
            if name.endswith("norm.weight"):
                if model_type == "gemma3_text":
                    mean = 0.5 if (name.endswith("q_norm.weight") or name.endswith("k_norm.weight")) else 0.0
                    p.copy_(mean + 0.5 * torch.randn(shape, generator=gen))
                else:
                    p.copy_(1.0 + 0.3 * torch.randn(shape, generator=gen))
            elif name.endswith("embed_tokens.weight"):
                p.copy_(torch.randn(shape, generator=gen) / math.sqrt(shape[1]))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(shape, generator=gen))
            elif name.endswith(".weight") and p.dim() == 2:
                fan_in = shape[1]
                p.copy_(torch.randn(shape, generator=gen) / math.sqrt(fan_in))
            else:
                raise RuntimeError(f"unexpected parameter {name} {shape}")


def make_batch(vocab, gen, bos_id):
    T = max(LENGTHS)
    ids = torch.full((len(LENGTHS), T), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(LENGTHS), T), dtype=torch.long)
    for b, n in enumerate(LENGTHS):
        # real tokens avoid the pad id so that padding is visible in the ids alone
        ids[b, :n] = torch.randint(3, vocab, (n,), generator=gen)
        ids[b, 0] = bos_id
        mask[b, :n] = 1
    return ids, mask


def attention_sharpness(model, ids, mask):
    """Mean over layers/heads/real queries of the largest attention weight (1/n would be uniform)."""
    out = model(input_ids=ids, attention_mask=mask, output_attentions=True)
    vals = []
    for a in out.attentions:  # (B, H, T, T)
        for b, n in enumerate(LENGTHS):
            vals.append(a[b, :, 1:n, :].max(dim=-1).values.mean().item())
    return sum(vals) / len(vals)


# ------------------------------------------------------------------------------------------------
# Independent re-implementation of the forward pass, written from Tests/Fixtures/README.md only
# (plain tensor ops, no transformers modules). It checks that the README describes exactly what
# transformers computes, and its float32 run estimates how far a correct engine with a different
# order of operations lands from the reference (which sets the recommended tolerances).
# ------------------------------------------------------------------------------------------------


# Deliberate mistakes (see MUTATIONS): the fixtures must tell each of them apart from the truth.
MUT = set()
MUTATIONS = {
    "gemma3_text": ["norm_w_not_1_plus_w", "scale_head_dim", "window_le", "no_window", "rope_bases_swapped",
                    "rope_interleaved", "no_embed_scale", "gelu_erf", "no_qk_norm", "no_post_norms"],
    "llama": ["rope_interleaved", "kv_head_tiled"],
    "qwen2": ["rope_interleaved", "kv_head_tiled", "no_qkv_bias"],
    "qwen3": ["rope_interleaved", "kv_head_tiled", "no_qk_norm"],
}
# Added for any config with rope_type "llama3": the default inverse frequencies instead of the scaled ones.
LLAMA3_MUTATIONS = ["no_rope_scaling"]


def llama3_inv_freq(inv_freq, p):
    """transformers' _compute_llama3_parameters, restated (README: "Llama 3 RoPE")."""
    if "no_rope_scaling" in MUT:
        return inv_freq
    factor, low, high = p["factor"], p["low_freq_factor"], p["high_freq_factor"]
    old = p["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    slowed = torch.where(wavelen > old / low, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * slowed / factor + smooth * slowed
    medium = ~(wavelen < old / high) * ~(wavelen > old / low)
    return torch.where(medium, smoothed, slowed)


def rms_norm(x, w, eps, gemma):
    # Gemma: x / sqrt(mean(x^2) + eps) * (1 + w);  Llama/Qwen2: ... * w
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    if gemma and "norm_w_not_1_plus_w" in MUT:
        return y * w
    return y * (1.0 + w) if gemma else y * w


def rope(x, pos, base, scaling=None):
    # x: (H, T, D). inv_freq_i = base^(-2i/D), i = 0 .. D/2-1; angle(t, j) = t * inv_freq_(j mod D/2)
    D = x.shape[-1]
    inv_freq = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.float32).to(x.dtype) / D))
    if scaling is not None and scaling.get("rope_type") == "llama3":
        inv_freq = llama3_inv_freq(inv_freq, scaling)
    ang = pos.to(x.dtype)[:, None] * inv_freq[None, :]
    if "rope_interleaved" in MUT:  # GPT-J / llama.cpp-style pairs (2i, 2i+1): wrong for HF weights
        ang = ang.repeat_interleave(2, dim=-1)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        rot = torch.stack([-x2, x1], dim=-1).reshape(x.shape)
        return x * ang.cos() + rot * ang.sin()
    ang = torch.cat([ang, ang], dim=-1)  # (T, D)
    x1, x2 = x[..., : D // 2], x[..., D // 2 :]
    rot = torch.cat([-x2, x1], dim=-1)
    return x * ang.cos() + rot * ang.sin()


def gelu_tanh(x):
    if "gelu_erf" in MUT:
        return torch.nn.functional.gelu(x)
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def silu(x):
    return x / (1.0 + torch.exp(-x))


def independent_forward(sd, cfg, ids, n, dtype):
    """Forward of one unpadded sequence ids[:n]; returns (embeddings, layer outputs, last_hidden, logits)."""
    g = lambda k: sd[k].to(dtype)  # noqa: E731
    gemma = cfg["model_type"] == "gemma3_text"
    C, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or C // H
    eps = cfg["rms_norm_eps"]
    tok = ids[:n]
    pos = torch.arange(n)
    x = g("model.embed_tokens.weight")[tok]
    if gemma and "no_embed_scale" not in MUT:
        x = x * torch.tensor(C**0.5, dtype=torch.float32).to(dtype)  # sqrt(C) rounded to f32 first
    emb = x.clone()
    outs = []
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, g(p + "input_layernorm.weight"), eps, gemma)
        lin = lambda name, v: v @ g(p + name + ".weight").T + (  # noqa: E731
            g(p + name + ".bias") if (p + name + ".bias") in sd and "no_qkv_bias" not in MUT else 0.0
        )
        q = lin("self_attn.q_proj", h).view(n, H, D).transpose(0, 1)  # (H, n, D)
        k = lin("self_attn.k_proj", h).view(n, KV, D).transpose(0, 1)
        v = lin("self_attn.v_proj", h).view(n, KV, D).transpose(0, 1)
        if (gemma or cfg["model_type"] == "qwen3") and "no_qk_norm" not in MUT:
            # per head, over D; Gemma scales by 1 + w, Qwen3 by w
            q = rms_norm(q, g(p + "self_attn.q_norm.weight"), eps, gemma)
            k = rms_norm(k, g(p + "self_attn.k_norm.weight"), eps, gemma)
        if gemma:
            kind = cfg["layer_types"][l]
            if "rope_bases_swapped" in MUT:
                kind_for_rope = "full_attention" if kind == "sliding_attention" else "sliding_attention"
            else:
                kind_for_rope = kind
            base = cfg["rope_parameters"][kind_for_rope]["rope_theta"]
            scale = (D if "scale_head_dim" in MUT else cfg["query_pre_attn_scalar"]) ** -0.5
            window = cfg["sliding_window"] if kind == "sliding_attention" and "no_window" not in MUT else None
        else:
            base = cfg["rope_parameters"]["rope_theta"]
            scale = D**-0.5
            window = None
        scaling = None if gemma else cfg["rope_parameters"]
        q, k = rope(q, pos, base, scaling), rope(k, pos, base, scaling)
        rep = H // KV
        if "kv_head_tiled" in MUT:  # wrong: query head h uses kv head h % KV
            k, v = k.repeat(rep, 1, 1), v.repeat(rep, 1, 1)
        else:
            k = k.repeat_interleave(rep, dim=0)  # query head h uses kv head h // rep
            v = v.repeat_interleave(rep, dim=0)
        s = (q @ k.transpose(1, 2)) * scale  # (H, n, n)
        i = pos[:, None]
        j = pos[None, :]
        allowed = j <= i
        if window is not None:
            allowed = allowed & ((i - j <= window) if "window_le" in MUT else (i - j < window))
        s = s.masked_fill(~allowed, float("-inf"))
        a = torch.softmax(s, dim=-1) @ v  # (H, n, D)
        a = a.transpose(0, 1).reshape(n, H * D) @ g(p + "self_attn.o_proj.weight").T
        if gemma:
            if "no_post_norms" not in MUT:
                a = rms_norm(a, g(p + "post_attention_layernorm.weight"), eps, True)
            x = x + a
            h = rms_norm(x, g(p + "pre_feedforward_layernorm.weight"), eps, True)
            act = gelu_tanh
        else:
            x = x + a
            h = rms_norm(x, g(p + "post_attention_layernorm.weight"), eps, False)
            act = silu
        m = act(h @ g(p + "mlp.gate_proj.weight").T) * (h @ g(p + "mlp.up_proj.weight").T)
        m = m @ g(p + "mlp.down_proj.weight").T
        if gemma and "no_post_norms" not in MUT:
            m = rms_norm(m, g(p + "post_feedforward_layernorm.weight"), eps, True)
        x = x + m
        outs.append(x.clone())
    last = rms_norm(x, g("model.norm.weight"), eps, gemma)
    head = g("lm_head.weight") if "lm_head.weight" in sd else g("model.embed_tokens.weight")
    logits = last @ head.T
    return emb, outs, last, logits


def check_independent(out_dir, ref):
    """Max |difference| between the independent re-implementation (f64 and f32) and the reference."""
    sd = load_file(os.path.join(out_dir, "model.safetensors"))
    with open(os.path.join(out_dir, "config.json")) as f:
        cfg = json.load(f)
    ids = ref["input_ids"].long()
    worst = {}
    for dtype in (torch.float64, torch.float32):
        d = {"logits": 0.0, "last_hidden": 0.0, "layers": 0.0, "embeddings": 0.0}
        for b, n in enumerate(LENGTHS):
            emb, outs, last, logits = independent_forward(sd, cfg, ids[b], n, dtype)
            d["embeddings"] = max(d["embeddings"], (emb - ref["embeddings"][b, :n]).abs().max().item())
            for l, o in enumerate(outs):
                d["layers"] = max(d["layers"], (o - ref[f"layer_{l}"][b, :n]).abs().max().item())
            d["last_hidden"] = max(d["last_hidden"], (last - ref["last_hidden"][b, :n]).abs().max().item())
            d["logits"] = max(d["logits"], (logits - ref["logits"][b, :n]).abs().max().item())
        worst["f64" if dtype == torch.float64 else "f32"] = d
    # Each deliberate mistake must move some real-position logit by far more than the tolerance.
    caught = {}
    mutations = list(MUTATIONS[cfg["model_type"]])
    if (cfg.get("rope_parameters") or {}).get("rope_type") == "llama3":
        mutations += LLAMA3_MUTATIONS
    for m in mutations:
        MUT.clear()
        MUT.add(m)
        diff = 0.0
        for b, n in enumerate(LENGTHS):
            logits = independent_forward(sd, cfg, ids[b], n, torch.float64)[3]
            diff = max(diff, (logits - ref["logits"][b, :n]).abs().max().item())
        caught[m] = diff
    MUT.clear()
    worst["mistake_max_abs_logit_diff"] = caught
    return worst


def build(name, out_root):
    make_config, cls = FIXTURES[name]
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    config = make_config()
    model = cls(config)
    model.config._attn_implementation = "eager"
    model.set_attn_implementation("eager")
    model = model.float().eval()
    randomise(model, config.model_type, gen)
    if config.tie_word_embeddings:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "tie broken"

    out_dir = os.path.join(out_root, name)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    # save_pretrained may also write generation_config.json; the engine does not need it.
    gen_cfg = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)

    bos = config.bos_token_id if config.bos_token_id is not None else 1
    ids, mask = make_batch(config.vocab_size, gen, bos)
    B, T = ids.shape

    # ---- forward (no grad) -------------------------------------------------------------------
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        base = model.model(input_ids=ids, attention_mask=mask)
        logits = out.logits.float()
        hs = out.hidden_states  # (L + 1) tensors
        L = config.num_hidden_layers
        assert len(hs) == L + 1
        # hidden_states[0] is the embedding output; hidden_states[l] for 1 <= l < L is the output of
        # decoder layer l-1; transformers 5 replaces hidden_states[L] (the last layer's output) by
        # last_hidden_state, i.e. the output AFTER the final norm. Verify that, then capture the
        # last decoder layer's raw output separately with a hook.
        assert torch.equal(hs[-1], base.last_hidden_state), "hidden_states[-1] is not last_hidden_state"
        captured = {}
        handle = model.model.layers[L - 1].register_forward_hook(
            lambda m, i, o: captured.__setitem__("last", (o[0] if isinstance(o, tuple) else o).detach().clone())
        )
        model(input_ids=ids, attention_mask=mask)
        handle.remove()
        layer_outs = list(hs[1:L]) + [captured["last"]]
        assert torch.allclose(model.model.norm(captured["last"]), base.last_hidden_state, atol=0, rtol=0)
        check = model.lm_head(base.last_hidden_state)
        assert torch.equal(check, logits), "logits != lm_head(last_hidden_state)"
        sharp = attention_sharpness(model, ids, mask)

    # ---- loss and gradients ------------------------------------------------------------------
    labels = ids.clone()
    labels[mask == 0] = -100
    model.zero_grad()
    out_g = model(input_ids=ids, attention_mask=mask, labels=labels)
    out_g.loss.backward()
    grads = {}
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        grads[pname] = p.grad.detach().float().contiguous().clone()
    # manual loss as documented in the README
    manual = []
    for b, n in enumerate(LENGTHS):
        lp = torch.log_softmax(logits[b, : n - 1].double(), dim=-1)
        manual.append(-lp[torch.arange(n - 1), ids[b, 1:n]])
    manual_loss = torch.cat(manual).mean().item()
    assert abs(manual_loss - out_g.loss.item()) < 1e-5, (manual_loss, out_g.loss.item())

    finite_real = all(torch.isfinite(logits[b, :n]).all().item() for b, n in enumerate(LENGTHS))
    assert finite_real
    nonfinite_padded = int((~torch.isfinite(logits)).sum().item())

    ref = {
        "input_ids": ids.float().contiguous(),
        "attention_mask": mask.float().contiguous(),
        "embeddings": hs[0].float().contiguous(),
        "last_hidden": base.last_hidden_state.float().contiguous(),
        "logits": logits.contiguous(),
        "loss": torch.tensor([out_g.loss.item()], dtype=torch.float32),
    }
    for l, h in enumerate(layer_outs):
        ref[f"layer_{l}"] = h.float().contiguous()
    save_file(ref, os.path.join(out_dir, "reference.safetensors"), metadata={"format": "pt"})
    save_file(grads, os.path.join(out_dir, "grads.safetensors"), metadata={"format": "pt"})

    # ---- sanity: reload from disk gives the same logits ----------------------------------------
    reloaded = cls.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        again = reloaded(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(again, logits), "reload changed logits"
    stored = load_file(os.path.join(out_dir, "model.safetensors"))
    assert all(t.dtype == torch.float32 for t in stored.values())

    # ---- each sequence alone (no padding, no mask) gives the same real-position outputs ------------
    with torch.no_grad():
        alone = max(
            (model(input_ids=ids[b : b + 1, :n]).logits[0] - logits[b, :n]).abs().max().item()
            for b, n in enumerate(LENGTHS)
        )
    indep = check_independent(out_dir, ref)
    assert indep["f64"]["logits"] < 1e-5 and indep["f32"]["logits"] < LOGITS_ATOL / 4, indep
    assert alone < LOGITS_ATOL / 4, alone
    assert all(v > 10 * LOGITS_ATOL for v in indep["mistake_max_abs_logit_diff"].values()), indep

    real = torch.cat([logits[b, :n] for b, n in enumerate(LENGTHS)])
    cfg = config.to_dict()
    expected = {
        "model_type": config.model_type,
        "architectures": cfg.get("architectures") or [cls.__name__],
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "attn_implementation": "eager",
        "dtype": "float32",
        "seed": SEED,
        "batch": B,
        "seq_len": T,
        "lengths": LENGTHS,
        "pad_id": PAD_ID,
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "tie_word_embeddings": bool(config.tie_word_embeddings),
        "stored_tensors": sorted(stored.keys()),
        "max_abs_logit_real": float(real.abs().max().item()),
        "mean_abs_logit_real": float(real.abs().mean().item()),
        "max_abs_last_hidden_real": float(
            torch.cat([base.last_hidden_state[b, :n] for b, n in enumerate(LENGTHS)]).abs().max().item()
        ),
        "loss": float(out_g.loss.item()),
        "argmax_last_real": [int(logits[b, n - 1].argmax().item()) for b, n in enumerate(LENGTHS)],
        "mean_max_attention_weight": sharp,
        "nonfinite_logits_at_padded_positions": nonfinite_padded,
        "max_abs_diff_unpadded_single_sequence_logits": alone,
        "max_abs_diff_independent_reimplementation": indep,
        "tolerance": {
            "logits_atol": LOGITS_ATOL,
            "hidden_atol": HIDDEN_ATOL,
            "loss_atol": LOSS_ATOL,
            "grad_atol": GRAD_ATOL,
            "grad_rtol": GRAD_RTOL,
            "compare": "real positions only (attention_mask == 1); |swift - ref| <= atol (+ rtol*|ref| for grads)",
        },
    }
    if config.model_type == "gemma3_text":
        expected["embed_scale"] = float(torch.tensor(config.hidden_size**0.5, dtype=torch.float32).item())
        expected["layer_types"] = list(config.layer_types)
        expected["sliding_window"] = config.sliding_window
        expected["query_pre_attn_scalar"] = config.query_pre_attn_scalar
        expected["rope_theta"] = {k: v["rope_theta"] for k, v in config.rope_parameters.items()}
    else:
        expected["rope_theta"] = config.rope_parameters["rope_theta"]
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")

    sizes = {fn: os.path.getsize(os.path.join(out_dir, fn)) for fn in sorted(os.listdir(out_dir))}
    for fn, sz in sizes.items():
        assert sz < 200 * 1024, f"{name}/{fn} is {sz} bytes (limit 200 KB)"
    print(
        f"{name}: params={expected['num_parameters']} max|logit|={expected['max_abs_logit_real']:.3f} "
        f"loss={expected['loss']:.5f} attn-sharpness={sharp:.3f} alone={alone:.2e} indep={indep} files={sizes}",
        file=sys.stderr,
    )


# ------------------------------------------------------------------------------------------------
# Candidate loss (SST-2 style): only the logits of K candidate tokens at each sequence's last real
# position enter a K-way softmax; gradients flow to those K rows of the output head and, through the
# last hidden state, to everything before it.
# ------------------------------------------------------------------------------------------------
CANDIDATE_LABELS = [1, 0, 1]


def candidate_ids_for(ids, mask):
    """[a token of the input (row 0, position 2), the smallest id >= 3 that occurs nowhere]."""
    present = set(ids[mask == 1].tolist())
    absent = next(i for i in range(3, 10**6) if i not in present)
    return [int(ids[0, 2].item()), absent]


def build_candidate_grads(name, out_root):
    """Writes NAME/candidate_grads.safetensors from NAME/model.safetensors + reference.safetensors."""
    _, cls = FIXTURES[name]
    out_dir = os.path.join(out_root, name)
    model = cls.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager").float().eval()
    ref = load_file(os.path.join(out_dir, "reference.safetensors"))
    ids, mask = ref["input_ids"].long(), ref["attention_mask"].long()
    cand = candidate_ids_for(ids, mask)
    labels = torch.tensor(CANDIDATE_LABELS)
    last = mask.sum(dim=1) - 1  # last real position of each row
    model.zero_grad()
    logits = model(input_ids=ids, attention_mask=mask).logits  # (B, T, V)
    # the forward must be the one the other fixture files describe
    assert torch.allclose(logits.detach(), ref["logits"], atol=1e-5)
    z = logits[torch.arange(len(LENGTHS)), last][:, cand]  # (B, K)
    loss = torch.nn.functional.cross_entropy(z, labels)  # mean over the B sequences
    loss.backward()
    manual = -torch.log_softmax(z.detach().double(), dim=-1)[torch.arange(len(LENGTHS)), labels].mean().item()
    assert abs(manual - loss.item()) < 1e-6, (manual, loss.item())
    out = {}
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        out[pname] = p.grad.detach().float().contiguous().clone()
    stored = load_file(os.path.join(out_dir, "model.safetensors"))
    assert set(out) == set(stored), (set(out) ^ set(stored))
    out["candidate_ids"] = torch.tensor(cand, dtype=torch.float32)
    out["labels"] = labels.float()
    out["loss"] = torch.tensor([loss.item()], dtype=torch.float32)
    path = os.path.join(out_dir, "candidate_grads.safetensors")
    save_file(out, path, metadata={"format": "pt"})
    size = os.path.getsize(path)
    assert size < 200 * 1024, f"{path} is {size} bytes (limit 200 KB)"
    print(f"{name}: candidate loss {loss.item():.6f} ids {cand} labels {CANDIDATE_LABELS} -> {path} ({size} bytes)",
          file=sys.stderr)


OPTIMIZER_STEPS = 3
OPTIMIZER_FIXTURES = ["tiny-gemma3", "tiny-qwen2"]


def build_optimizer_steps(name, out_root):
    """Writes NAME/optimizer_steps.safetensors: SGD and AdamW trajectories on the candidate loss."""
    _, cls = FIXTURES[name]
    out_dir = os.path.join(out_root, name)
    ref = load_file(os.path.join(out_dir, "reference.safetensors"))
    ids, mask = ref["input_ids"].long(), ref["attention_mask"].long()
    cand = candidate_ids_for(ids, mask)
    labels = torch.tensor(CANDIDATE_LABELS)
    last = mask.sum(dim=1) - 1
    out = {}
    for kind in ["sgd", "adamw"]:
        model = cls.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager").float().eval()
        named = list(model.named_parameters())
        decayed = [p for n, p in named if not ("norm" in n or n.endswith(".bias"))]
        plain = [p for n, p in named if "norm" in n or n.endswith(".bias")]
        if kind == "sgd":
            groups = [{"params": decayed, "weight_decay": 0.01}, {"params": plain, "weight_decay": 0.0}]
            opt = torch.optim.SGD(groups, lr=0.05)
        else:
            groups = [{"params": decayed, "weight_decay": 0.1}, {"params": plain, "weight_decay": 0.0}]
            opt = torch.optim.AdamW(groups, lr=0.01, betas=(0.9, 0.95), eps=1e-8)
        norms = []
        for _ in range(OPTIMIZER_STEPS):
            opt.zero_grad()
            z = model(input_ids=ids, attention_mask=mask).logits[torch.arange(len(LENGTHS)), last][:, cand]
            torch.nn.functional.cross_entropy(z, labels).backward()
            norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5).item())
            opt.step()
        for n, p in named:
            out[f"{kind}.{n}"] = p.detach().float().contiguous().clone()
        out[f"{kind}_grad_norms"] = torch.tensor(norms, dtype=torch.float32)
        print(f"{name}: {kind} grad norms {norms}", file=sys.stderr)
    path = os.path.join(out_dir, "optimizer_steps.safetensors")
    save_file(out, path, metadata={"format": "pt"})
    assert os.path.getsize(path) < 400 * 1024, path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures"))
    ap.add_argument("--candidates-only", action="store_true",
                    help="only (re)write candidate_grads.safetensors from the existing model/reference files")
    ap.add_argument("--optimizers-only", action="store_true",
                    help="only (re)write optimizer_steps.safetensors from the existing model/reference files")
    ap.add_argument("names", nargs="*", default=list(FIXTURES))
    args = ap.parse_args()
    torch.set_num_threads(1)  # deterministic reductions
    root = os.path.abspath(args.out)
    for name in args.names:
        if not args.optimizers_only:
            if not args.candidates_only:
                build(name, root)
            build_candidate_grads(name, root)
        if name in OPTIMIZER_FIXTURES and not args.candidates_only:
            build_optimizer_steps(name, root)


if __name__ == "__main__":
    main()
