#!/usr/bin/env python3
"""peft's prefix tuning on PyTorch, the reference for the Swift prefix tests.

    python3 tools/reference/reference_prefix.py fixtures        # tiny models -> Tests/Fixtures/<name>/prefix_reference.safetensors
    python3 tools/reference/reference_prefix.py gemma  --model models/gemma-3-270m   --data "$SST2_DIR" --out models/reference/gemma-3-270m-prefix.safetensors
    python3 tools/reference/reference_prefix.py minilm --model models/all-minilm-l6-v2 --data "$SST2_DIR" --out models/reference/minilm-prefix.safetensors

peft 0.21.2, `PrefixTuningConfig(num_virtual_tokens=n)` (prefix_projection False: the trained tensor is
`prompt_embeddings`, (n, L*2*W), W = num_key_value_heads*head_dim), on transformers 5.23, f32, eager
attention, eval mode (no dropout). What the model computes is then (checked below by a second,
hand-written forward that must agree to float rounding):
  - layer l's prefix keys are columns [2l*W, (2l+1)*W) of `prompt_embeddings`, its values the next W;
    they enter attention as cached keys, i.e. already after k-norm / RoPE (decoders) or the key/value
    projections (BERT), never rotated or projected;
  - the real tokens' positions start at n (RoPE angle; BERT's position-embedding row);
  - causal models: every query sees every prefix key, except that Gemma-3's sliding layers apply
    their window to absolute positions (tiny-gemma3 has window 4, so its later tokens lose the prefix).

Prefix initialisation "by real activations" (princeton-nlp/MeZO, large_models/prefix.py,
`PrefixTuning(..., init_by_real_act=True)`): the keys and values the model caches for n tokens run
alone from position 0 (decoders: `past_key_values`; BERT: the key/value projections' outputs, as
medium_models/src/prefix.py reads RoBERTa's `past_key_values`).

fixtures: tiny-gemma3, tiny-llama, tiny-qwen3 (decoders) and tiny-bert-mlm (encoder), n = 3,
`prompt_embeddings` = 0.5 * N(0, 1) (seed 1234). Decoders on the fixture's reference batch
(reference.safetensors: 3 right-padded sequences): `logits` (B, T, V) at every position, the
candidate loss of candidate_grads.safetensors (same ids and labels) and its gradient
`candidate_grad` (n, L*2*W), and the next-token loss (HF labels = ids, -100 on padding) and its
gradient `next_token_grad`. Encoder: 2 label descriptions then 3 sentences (random ids, right padded),
`last_hidden` (B, T, C) at every position, the label-description loss (cosine / temperature 0.5,
labels [1, 0, 1]) and its gradient. Each file also holds `init_tokens` (n,) and `init_embeddings`
(n, L*2*W): MeZO's initialisation from those tokens.

gemma / minilm: n = 5, prefix initialised by real activations of `init_tokens` (torch.randint,
seed 0), then the gradient of the SST-2 loss the trainer uses on the first 16 train sentences:
Gemma's candidate loss ("{sentence} It was" -> " terrible"/" great" at the last token, run one
sequence at a time with `logits_to_keep=1`, the mean over them), MiniLM's label-description loss
(descriptions "a negative/positive movie review", T = 0.05). Written: init_tokens, init_embeddings,
loss (1,), grad (n, L*2*W), input ids, labels.
"""

import argparse
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SEED = 1234


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def peft_prefix(model, n, task_type):
    import peft
    from peft import PrefixTuningConfig, get_peft_model
    assert peft.__version__ == "0.21.2", f"made with peft 0.21.2, found {peft.__version__}"
    pm = get_peft_model(model, PrefixTuningConfig(task_type=task_type, num_virtual_tokens=n))
    pm.eval()
    return pm


def prompt_embeddings(pm):
    return pm.prompt_encoder["default"].embedding.weight


def kv_width(config):
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return getattr(config, "num_key_value_heads", config.num_attention_heads) * head_dim


def decoder_init_by_real_act(model, tokens):
    """MeZO's init_by_real_act: the cached keys/values of `tokens` run alone, in peft's layout."""
    with torch.no_grad():
        cache = model(input_ids=tokens[None], use_cache=True).past_key_values
    cols = []
    for layer in cache.layers:
        n = tokens.shape[0]
        assert layer.keys.shape[2] == n, "the cache dropped prefix tokens (sliding window shorter than n?)"
        cols.append(layer.keys[0].transpose(0, 1).reshape(n, -1))   # (n, Hkv*D), as MeZO reshapes
        cols.append(layer.values[0].transpose(0, 1).reshape(n, -1))
    return torch.cat(cols, dim=1).contiguous()


def encoder_init_by_real_act(model, tokens):
    """The same for BERT: each layer's key/value projection outputs for `tokens` run alone."""
    got = {}
    hooks = []
    for l, layer in enumerate(model.encoder.layer):
        for which, mod in (("k", layer.attention.self.key), ("v", layer.attention.self.value)):
            hooks.append(mod.register_forward_hook(lambda m, i, o, key=(l, which): got.__setitem__(key, o[0].detach())))
    with torch.no_grad():
        model(input_ids=tokens[None])
    for h in hooks:
        h.remove()
    return torch.cat([got[(l, w)] for l in range(len(model.encoder.layer)) for w in ("k", "v")], dim=1).contiguous()


# ---- hand-written forwards: what we claim peft + transformers compute ----

def manual_decoder_logits(model, ids, P, n):
    """One unpadded sequence through the decoder with the prefix as past positions 0..n-1."""
    c = model.config
    L, H, KV = c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads
    D = getattr(c, "head_dim", None) or c.hidden_size // H
    T = ids.shape[0]
    inner = model.model
    x = inner.embed_tokens(ids[None])
    pos = torch.arange(n, n + T)[None]
    types = getattr(c, "layer_types", None) or ["full_attention"] * L
    rope = importlib_rope(model)
    Pv = P.view(n, L * 2, KV, D)
    for l, layer in enumerate(inner.layers):
        a = layer.self_attn
        # Gemma-3 has one rotary table per layer type (local base 1e4, global 1e6).
        cos, sin = inner.rotary_emb(x, pos, types[l]) if c.model_type == "gemma3_text" else inner.rotary_emb(x, pos)
        h = layer.input_layernorm(x)
        q = a.q_proj(h).view(1, T, H, D).transpose(1, 2)
        k = a.k_proj(h).view(1, T, KV, D).transpose(1, 2)
        v = a.v_proj(h).view(1, T, KV, D).transpose(1, 2)
        if hasattr(a, "q_norm"):
            q, k = a.q_norm(q), a.k_norm(k)
        q, k = rope(q, k, cos, sin)
        K = torch.cat([Pv[:, 2 * l].permute(1, 0, 2)[None], k], 2).repeat_interleave(H // KV, 1)
        V = torch.cat([Pv[:, 2 * l + 1].permute(1, 0, 2)[None], v], 2).repeat_interleave(H // KV, 1)
        s = q @ K.transpose(-1, -2) * a.scaling
        if getattr(c, "attn_logit_softcapping", None):
            s = torch.tanh(s / c.attn_logit_softcapping) * c.attn_logit_softcapping
        qp, kp = torch.arange(n, n + T)[:, None], torch.arange(n + T)[None]
        mask = kp <= qp
        if types[l] == "sliding_attention":
            mask &= kp > qp - c.sliding_window
        o = (s.masked_fill(~mask, float("-inf")).softmax(-1) @ V).transpose(1, 2).reshape(1, T, H * D)
        o = a.o_proj(o)
        if hasattr(layer, "post_attention_layernorm") and hasattr(layer, "pre_feedforward_layernorm"):
            x = x + layer.post_attention_layernorm(o)
            x = x + layer.post_feedforward_layernorm(layer.mlp(layer.pre_feedforward_layernorm(x)))
        else:
            x = x + o
            x = x + layer.mlp(layer.post_attention_layernorm(x))
    return model.lm_head(inner.norm(x))[0]


def importlib_rope(model):
    import importlib
    return importlib.import_module(type(model).__module__).apply_rotary_pos_emb


def manual_encoder_hidden(model, ids, P, n):
    """One unpadded sequence through BERT with the prefix (positions of real tokens from n)."""
    c = model.config
    L, H = c.num_hidden_layers, c.num_attention_heads
    D = c.hidden_size // H
    T = ids.shape[0]
    e = model.embeddings
    x = e.word_embeddings(ids[None]) + e.position_embeddings(torch.arange(n, n + T)[None]) \
        + e.token_type_embeddings(torch.zeros_like(ids[None]))
    x = e.LayerNorm(x)
    Pv = P.view(n, L * 2, H, D)
    for l, layer in enumerate(model.encoder.layer):
        a = layer.attention.self
        q = a.query(x).view(1, T, H, D).transpose(1, 2)
        k = a.key(x).view(1, T, H, D).transpose(1, 2)
        v = a.value(x).view(1, T, H, D).transpose(1, 2)
        K = torch.cat([Pv[:, 2 * l].permute(1, 0, 2)[None], k], 2)
        V = torch.cat([Pv[:, 2 * l + 1].permute(1, 0, 2)[None], v], 2)
        o = ((q @ K.transpose(-1, -2)) * D ** -0.5).softmax(-1) @ V
        o = o.transpose(1, 2).reshape(1, T, H * D)
        x = layer.attention.output.LayerNorm(layer.attention.output.dense(o) + x)
        x = layer.output.LayerNorm(layer.output.dense(layer.intermediate(x)) + x)
    return x[0]


# ---- fixtures ----

def decoder_fixture(name, n):
    from peft import TaskType
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM
    folder = os.path.join(ROOT, "Tests", "Fixtures", name)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    with safe_open(os.path.join(folder, "reference.safetensors"), "pt") as f:
        ids = f.get_tensor("input_ids").long()
        mask = f.get_tensor("attention_mask").long()
    with safe_open(os.path.join(folder, "candidate_grads.safetensors"), "pt") as f:
        cand = f.get_tensor("candidate_ids").long()
        labels = f.get_tensor("labels").long()
    init_tokens = torch.tensor([5, 17, 33][:n])
    init = decoder_init_by_real_act(model, init_tokens)
    pm = peft_prefix(model, n, TaskType.CAUSAL_LM)
    P = prompt_embeddings(pm)
    assert P.shape == (n, model.config.num_hidden_layers * 2 * kv_width(model.config)), P.shape
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        P.copy_(0.5 * torch.randn(P.shape, generator=g))

    logits = pm(input_ids=ids, attention_mask=mask).logits            # (B, T, V)
    last = mask.sum(1) - 1
    z = logits[torch.arange(ids.shape[0]), last][:, cand]
    candidate_loss = F.cross_entropy(z, labels)
    (candidate_grad,) = torch.autograd.grad(candidate_loss, P)
    hf_labels = ids.masked_fill(mask == 0, -100)
    next_token_loss = pm(input_ids=ids, attention_mask=mask, labels=hf_labels).loss
    (next_token_grad,) = torch.autograd.grad(next_token_loss, P)

    worst = 0.0
    with torch.no_grad():
        for b in range(ids.shape[0]):
            T = int(mask[b].sum())
            worst = max(worst, (manual_decoder_logits(model, ids[b, :T], P, n) - logits[b, :T]).abs().max().item())
    assert worst < 1e-5, f"{name}: the hand-written prefix forward differs from peft's by {worst}"
    log(f"{name}: candidate loss {candidate_loss.item():.6f}, next-token loss {next_token_loss.item():.6f}, "
        f"hand-written forward within {worst:.1e} of peft's")
    save_file({"prompt_embeddings": P.detach().contiguous(), "logits": logits.detach().contiguous(),
               "candidate_loss": candidate_loss.detach().reshape(1), "candidate_grad": candidate_grad.contiguous(),
               "next_token_loss": next_token_loss.detach().reshape(1), "next_token_grad": next_token_grad.contiguous(),
               "init_tokens": init_tokens.float(), "init_embeddings": init},
              os.path.join(folder, "prefix_reference.safetensors"), metadata=versions(n))


def encoder_fixture(name, n):
    from peft import TaskType
    from transformers import AutoModel
    folder = os.path.join(ROOT, "Tests", "Fixtures", name)
    model = AutoModel.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    g = torch.Generator().manual_seed(SEED)
    lengths = [4, 6, 9, 5, 2]          # 2 label descriptions, then 3 sentences
    labels = torch.tensor([1, 0, 1])
    temperature = 0.5
    T = max(lengths)
    ids = torch.zeros((len(lengths), T), dtype=torch.long)
    mask = torch.zeros((len(lengths), T), dtype=torch.long)
    for b, m in enumerate(lengths):
        ids[b, :m] = torch.randint(3, model.config.vocab_size, (m,), generator=g)
        mask[b, :m] = 1
    init_tokens = torch.tensor([5, 17, 33][:n])
    init = encoder_init_by_real_act(model, init_tokens)
    pm = peft_prefix(model, n, TaskType.FEATURE_EXTRACTION)
    P = prompt_embeddings(pm)
    assert P.shape == (n, model.config.num_hidden_layers * 2 * kv_width(model.config)), P.shape
    with torch.no_grad():
        P.copy_(0.5 * torch.randn(P.shape, generator=g))
    hidden = pm(input_ids=ids, attention_mask=mask).last_hidden_state
    loss = description_loss(hidden, mask, labels, 2, temperature)
    (grad,) = torch.autograd.grad(loss, P)
    worst = 0.0
    with torch.no_grad():
        for b in range(ids.shape[0]):
            m = int(mask[b].sum())
            worst = max(worst, (manual_encoder_hidden(model, ids[b, :m], P, n) - hidden[b, :m]).abs().max().item())
    assert worst < 1e-5, f"{name}: the hand-written prefix forward differs from peft's by {worst}"
    log(f"{name}: description loss {loss.item():.6f}, hand-written forward within {worst:.1e} of peft's")
    save_file({"prompt_embeddings": P.detach().contiguous(), "input_ids": ids.float(), "attention_mask": mask.float(),
               "labels": labels.float(), "temperature": torch.tensor([temperature]),
               "last_hidden": hidden.detach().contiguous(), "loss": loss.detach().reshape(1), "grad": grad.contiguous(),
               "init_tokens": init_tokens.float(), "init_embeddings": init},
              os.path.join(folder, "prefix_reference.safetensors"), metadata=versions(n))


def description_loss(hidden, mask, labels, K, temperature):
    """sentence-transformers' mean pooling + normalisation, cosine to the K descriptions / T, cross-entropy."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    u = F.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9), p=2, dim=1)
    return F.cross_entropy(u[K:] @ u[:K].T / temperature, labels)


def versions(n):
    import peft
    import transformers
    return {"peft": peft.__version__, "transformers": transformers.__version__, "torch": torch.__version__,
            "num_virtual_tokens": str(n)}


# ---- real models on SST-2 ----

def gemma(args):
    import sentencepiece as spm
    from peft import TaskType
    from reference_real_model import CANDIDATES, TEMPLATE, read_tsv, single_token
    from transformers import AutoModelForCausalLM
    sp = spm.SentencePieceProcessor(model_file=os.path.join(args.model, "tokenizer.model"))
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager").eval()
    bos = model.config.bos_token_id
    cand = [single_token(sp, c) for c in CANDIDATES]
    rows = read_tsv(os.path.join(args.data, "train.tsv"))[: args.n]
    prompts = [[bos] + sp.encode(TEMPLATE.format(sentence=s)) for s, _ in rows]
    labels = [y for _, y in rows]
    init_tokens = torch.randint(0, model.config.vocab_size, (args.prefix_tokens,), generator=torch.Generator().manual_seed(0))
    init = decoder_init_by_real_act(model, init_tokens)
    pm = peft_prefix(model, args.prefix_tokens, TaskType.CAUSAL_LM)
    P = prompt_embeddings(pm)
    with torch.no_grad():
        P.copy_(init)
    total = 0.0
    for p, y in zip(prompts, labels):   # one unpadded sequence at a time: no (B, T, 262144) logits
        logits = pm(input_ids=torch.tensor([p]), logits_to_keep=1).logits[0, -1]
        loss = F.cross_entropy(logits[cand][None], torch.tensor([y])) / len(prompts)
        loss.backward()
        total += loss.item()
    out = {"init_tokens": init_tokens.float(), "init_embeddings": init, "loss": torch.tensor([total]),
           "grad": P.grad.detach().contiguous(), "labels": torch.tensor(labels, dtype=torch.float32),
           "candidate_ids": torch.tensor(cand, dtype=torch.float32)}
    for k, p in enumerate(prompts):
        out[f"input_ids_{k}"] = torch.tensor(p, dtype=torch.float32)
    save(out, args.out, versions(args.prefix_tokens))
    log(f"Gemma prefix candidate loss {total:.6f}, |grad| {P.grad.norm().item():.4e}")


def minilm(args):
    from peft import TaskType
    from reference_encoder import read_labels
    from reference_token_ids import read_sentences
    from transformers import AutoModel, BertTokenizer
    descriptions = ["a negative movie review", "a positive movie review"]
    sentences = read_sentences(os.path.join(args.data, "train.tsv"), limit=args.n)
    labels = read_labels(os.path.join(args.data, "train.tsv"))[: args.n]
    tokenizer = BertTokenizer.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager").eval()
    init_tokens = torch.randint(0, model.config.vocab_size, (args.prefix_tokens,), generator=torch.Generator().manual_seed(0))
    init = encoder_init_by_real_act(model, init_tokens)
    pm = peft_prefix(model, args.prefix_tokens, TaskType.FEATURE_EXTRACTION)
    P = prompt_embeddings(pm)
    with torch.no_grad():
        P.copy_(init)
    enc = tokenizer(descriptions + sentences, padding=True, truncation=True, max_length=256, return_tensors="pt")
    hidden = pm(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    loss = description_loss(hidden, enc["attention_mask"], torch.tensor(labels), len(descriptions), args.temperature)
    (grad,) = torch.autograd.grad(loss, P)
    save({"init_tokens": init_tokens.float(), "init_embeddings": init, "loss": loss.detach().reshape(1),
          "grad": grad.contiguous(), "labels": torch.tensor(labels, dtype=torch.float32),
          "input_ids": enc["input_ids"].float(), "attention_mask": enc["attention_mask"].float()},
         args.out, {**versions(args.prefix_tokens), "temperature": str(args.temperature)})
    log(f"MiniLM prefix description loss {loss.item():.6f}, |grad| {grad.norm().item():.4e}")


def save(tensors, path, meta):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_file(tensors, path, metadata=meta)
    log(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["fixtures", "gemma", "minilm"])
    ap.add_argument("--model")
    ap.add_argument("--data", default=os.environ.get("SST2_DIR", "data/sst2"))
    ap.add_argument("--out")
    ap.add_argument("--n", type=int, default=16, help="first N train sentences")
    ap.add_argument("--prefix-tokens", type=int, default=5)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    if args.what == "fixtures":
        for name in ("tiny-gemma3", "tiny-llama", "tiny-qwen3"):
            decoder_fixture(name, 3)
        encoder_fixture("tiny-bert-mlm", 3)
    elif args.what == "gemma":
        gemma(args)
    else:
        minilm(args)


if __name__ == "__main__":
    main()
