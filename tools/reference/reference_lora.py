#!/usr/bin/env python3
"""peft (0.21.2) LoRA references for the Swift LoRA forward and backward
(Tests/ModelsTests/LoRAGradientTests.swift, Tests/ModelsTests/RealLoRAGradientTests.swift).

  python3 tools/reference/reference_lora.py tiny                       # Tests/Fixtures/<tiny>/lora_reference.safetensors (committed)
  python3 tools/reference/reference_lora.py gemma --model models/gemma-3-270m --data "$SST2_DIR" \\
      --out models/reference/gemma-3-270m-sst2-lora.safetensors          # by tools/test.sh, once
  python3 tools/reference/reference_lora.py minilm --model models/all-minilm-l6-v2 --data "$SST2_DIR" \\
      --out models/reference/minilm-sst2-lora.safetensors                # by tools/test.sh, once

The model is wrapped by peft's `get_peft_model(model, LoraConfig(r, lora_alpha, target_modules,
lora_dropout=0, bias="none"))`: y = base(x) + (alpha/r) * lora_B(lora_A(x)) on every targeted Linear
(peft/tuners/lora/layer.py, `Linear.forward`). A and B are then set to seeded random values (B != 0,
so that d loss / d A != 0 and the test sees both gradients), and written with the gradients.

Tensors written (F32), names as the Swift adapter arena names them (peft's key without
"base_model.model.", i.e. the Hugging Face module + ".lora_A.weight"):
  <module>.lora_A.weight, <module>.lora_B.weight           the values used       (r, in), (out, r)
  grad.<module>.lora_A.weight, grad.<module>.lora_B.weight  d loss / d value
  loss (1,)
  tiny decoders: logits (B, T, V) of the adapted model at every position of reference.safetensors'
      batch; the loss is the candidate loss of candidate_grads.safetensors (its candidate_ids, labels)
  tiny encoder (tiny-bert-mlm): last_hidden (B, T, C) at every position; the loss is the
      label-description loss with sequences 0 and 1 as the two descriptions and sequence 2 a
      sentence of label 1 (temperature 0.05)
  gemma: the SST-2 candidate loss on the first 16 train sentences (as tools/reference/reference_real_gradients.py)
  minilm: the label-description loss on the first 16 train sentences (as tools/reference/reference_encoder_gradients.py)
Metadata: rank, alpha, targets, peft/transformers/torch versions.
"""

import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DECODER_MODULES = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj",
                   "gate": "gate_proj", "up": "up_proj", "down": "down_proj"}
# BERT: peft matches a target by module-name suffix; the Swift side maps q,k,v,o,up,down the same way.
ENCODER_MODULES = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                   "o": "attention.output.dense", "up": "intermediate.dense", "down": r"\d+\.output\.dense"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def wrap(model, targets, r, alpha, encoder):
    """peft's LoRA on `targets`; A, B then drawn from a fixed seed (B nonzero)."""
    from peft import LoraConfig, get_peft_model
    if encoder:
        # A regex over full module names: "output.dense" alone would also match attention.output.dense.
        pattern = r".*encoder\.layer\.\d+\.(" + "|".join(ENCODER_MODULES[t] for t in targets) + ")"
        pattern = pattern.replace(r"\d+\.output\.dense", r"output\.dense(?<!attention\.output\.dense)")
        config = LoraConfig(r=r, lora_alpha=alpha, target_modules=pattern, lora_dropout=0.0, bias="none")
    else:
        config = LoraConfig(r=r, lora_alpha=alpha, target_modules=[DECODER_MODULES[t] for t in targets],
                            lora_dropout=0.0, bias="none")
    peft_model = get_peft_model(model, config)
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_A" in name:
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) / p.shape[1] ** 0.5)   # peft's init range
            elif "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return peft_model


def our_name(peft_name, prefix):
    """base_model.model.<module>.lora_A.default.weight -> <prefix><module>.lora_A.weight"""
    name = peft_name[len("base_model.model."):].replace(".default.", ".")
    return prefix + name


def adapter_tensors(peft_model, prefix):
    out = {}
    for name, p in peft_model.named_parameters():
        if "lora_" in name:
            n = our_name(name, prefix)
            out[n] = p.detach().float().contiguous()
            out["grad." + n] = p.grad.detach().float().contiguous()
    return out


def metadata(r, alpha, targets, extra=None):
    import peft
    import transformers
    meta = {"rank": str(r), "alpha": str(alpha), "targets": ",".join(targets), "peft": peft.__version__,
            "transformers": transformers.__version__, "torch": torch.__version__}
    meta.update(extra or {})
    return meta


def label_description_loss(hidden, mask, K, labels, temperature):
    m = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    u = F.normalize(pooled, p=2, dim=1)
    return F.cross_entropy(u[K:] @ u[:K].T / temperature, labels)


def tiny(args):
    from safetensors import safe_open
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoModelForCausalLM
    from reference_real_gradients import candidate_loss
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures")
    for name in ["tiny-gemma3", "tiny-llama", "tiny-qwen2", "tiny-bert-mlm"]:
        d = os.path.join(root, name)
        ref = safe_open(os.path.join(d, "reference.safetensors"), "pt")
        ids = ref.get_tensor("input_ids").long()
        mask = ref.get_tensor("attention_mask").long()
        encoder = name == "tiny-bert-mlm"
        targets = ["q", "k", "v", "o", "up", "down"] if encoder else list(DECODER_MODULES)
        r, alpha = 4, 8
        if encoder:
            base = AutoModel.from_pretrained(d, attn_implementation="eager", dtype=torch.float32).eval()
            keys = safe_open(os.path.join(d, "model.safetensors"), "pt").keys()
            prefix = "bert." if any(k.startswith("bert.") for k in keys) else ""
            model = wrap(base, targets, r, alpha, encoder=True)
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
            loss = label_description_loss(hidden, mask, 2, torch.tensor([1]), 0.05)
            loss.backward()
            out = adapter_tensors(model, prefix)
            out["last_hidden"] = hidden.detach().float().contiguous()
        else:
            base = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager", dtype=torch.float32).eval()
            cg = safe_open(os.path.join(d, "candidate_grads.safetensors"), "pt")
            cand = cg.get_tensor("candidate_ids").long().tolist()
            labels = cg.get_tensor("labels").long()
            model = wrap(base, targets, r, alpha, encoder=False)
            logits = model(input_ids=ids, attention_mask=mask).logits.detach()
            loss = candidate_loss(model.base_model.model, ids, mask, cand, labels)
            loss.backward()
            out = adapter_tensors(model, "")
            out["logits"] = logits.float().contiguous()
        out["loss"] = loss.detach().reshape(1).float()
        path = os.path.join(d, "lora_reference.safetensors")
        save_file(out, path, metadata=metadata(r, alpha, targets))
        log(f"{name}: loss {loss.item():.6f}, {sum(1 for k in out if k.startswith('grad.'))} adapter gradients -> {path}")


def real(args, encoder):
    from safetensors.torch import save_file
    torch.set_num_threads(args.threads)
    targets = args.targets.split(",")
    if encoder:
        from transformers import AutoModel, BertTokenizer
        from reference_encoder import read_labels
        from reference_token_ids import read_sentences
        sentences = read_sentences(os.path.join(args.data, "train.tsv"), limit=args.n)
        labels = read_labels(os.path.join(args.data, "train.tsv"))[: args.n]
        descriptions = ["a negative movie review", "a positive movie review"]
        tokenizer = BertTokenizer.from_pretrained(args.model)
        base = AutoModel.from_pretrained(args.model, attn_implementation="eager", dtype=torch.float32).eval()
        model = wrap(base, targets, args.rank, args.alpha, encoder=True)
        enc = tokenizer(descriptions + sentences, padding=True, truncation=True, max_length=256, return_tensors="pt")
        hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        loss = label_description_loss(hidden, enc["attention_mask"], 2, torch.tensor(labels), 0.05)
        loss.backward()
        out = adapter_tensors(model, "")
        out["input_ids"] = enc["input_ids"].float().contiguous()
        out["attention_mask"] = enc["attention_mask"].float().contiguous()
        out["labels"] = torch.tensor(labels, dtype=torch.float32)
    else:
        import sentencepiece as spm
        from transformers import AutoModelForCausalLM
        from reference_real_gradients import candidate_loss
        from reference_real_model import CANDIDATES, TEMPLATE, read_tsv, single_token
        sp = spm.SentencePieceProcessor(model_file=os.path.join(args.model, "tokenizer.model"))
        base = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager").float().eval()
        bos = base.config.bos_token_id
        cand = [single_token(sp, c) for c in CANDIDATES]
        rows = read_tsv(os.path.join(args.data, "train.tsv"))[: args.n]
        prompts = [[bos] + sp.encode(TEMPLATE.format(sentence=s)) for s, _ in rows]
        labels = torch.tensor([y for _, y in rows])
        T = max(len(p) for p in prompts)
        ids = torch.zeros((len(prompts), T), dtype=torch.long)
        mask = torch.zeros((len(prompts), T), dtype=torch.long)
        for b, p in enumerate(prompts):
            ids[b, : len(p)] = torch.tensor(p)
            mask[b, : len(p)] = 1
        model = wrap(base, targets, args.rank, args.alpha, encoder=False)
        loss = candidate_loss(model.base_model.model, ids, mask, cand, labels)
        loss.backward()
        out = adapter_tensors(model, "")
        for k, p in enumerate(prompts):
            out[f"input_ids_{k}"] = torch.tensor(p, dtype=torch.float32)
        out["labels"] = labels.float()
        out["candidate_ids"] = torch.tensor(cand, dtype=torch.float32)
    out["loss"] = loss.detach().reshape(1).float()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(out, args.out, metadata=metadata(args.rank, args.alpha, targets, {"model": os.path.abspath(args.model)}))
    log(f"loss {loss.item():.6f}; {sum(1 for k in out if k.startswith('grad.'))} adapter gradients -> {args.out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["tiny", "gemma", "minilm"])
    ap.add_argument("--model")
    ap.add_argument("--data", default=os.environ.get("SST2_DIR", "data/sst2"))
    ap.add_argument("--out")
    ap.add_argument("--n", type=int, default=16, help="first N train sentences")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--targets", default=None, help="default: every projection the architecture has")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.what == "tiny":
        tiny(args)
    else:
        encoder = args.what == "minilm"
        args.targets = args.targets or ("q,k,v,o,up,down" if encoder else "q,k,v,o,gate,up,down")
        real(args, encoder)


if __name__ == "__main__":
    main()
