#!/usr/bin/env python3
"""Tiny random model folders that carry a byte-level BPE tokenizer.json, for the end-to-end tests.

    python3 tools/make_bpe_model_fixtures.py        # writes Tests/Fixtures/tiny-<name>-bpe/

A user's Qwen3 or Llama 3.2 folder in miniature: config.json + model.safetensors of a tiny random
model whose vocabulary is one of tools/make_bpe_reference.py's (3,500 tokens). That vocabulary's
tokenizer.json + tokenizer_config.json (in Tests/Fixtures/bpe-<family>/) complete the folder; they
are copied in while this script runs and by whoever assembles the folder (the CLI tests,
tools/check_bpe_export.sh), not stored twice:

| folder | model | tokenizer | BOS rule |
|---|---|---|---|
| tiny-qwen3-bpe  | qwen3 (q/k norms), tied, hidden 16, 2 layers | bpe-qwen2  | none (Qwen) |
| tiny-llama3-bpe | llama with rope_type llama3, tied, hidden 16, 2 layers | bpe-llama3 | <|begin_of_text|> first |

text_reference.safetensors holds what transformers does with TEXT (AutoTokenizer + the model, f32,
eager), so the Swift test checks tokenizer and model together, as the CLI uses them:
  input_ids_<k>  (n_k,)  ids as F32 of prompt k: tokenizer(text, add_special_tokens=True), i.e. with
                         the BOS the tokenizer's own post-processor adds (none for Qwen)
  logits         (K, V)  logits at the last position of each prompt, run alone
and its metadata "texts" (a JSON list) the K prompts, SST-2-style ("{sentence} It was").

Weights are drawn as tools/make_fixtures.py draws them (randomise: N(0, 1/sqrt(fan_in)), norm
weights N(1, 0.3)), seed 1234; deterministic.
"""

import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import SEED, randomise  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
TEXTS = [
    "a gripping , funny and moving film . It was",
    "the plot is thin and the jokes fall flat . It was",
    "Ünïcode, emoji 😀 and 1234567 digits It was",
    "<|endoftext|> special token inside It was",
]


def common(vocab):
    return dict(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=16, rms_norm_eps=1e-6, hidden_act="silu", tie_word_embeddings=True,
                max_position_embeddings=128, attention_bias=False)


def qwen3(vocab, tokenizer):
    return Qwen3ForCausalLM(Qwen3Config(**common(vocab), rope_theta=1_000_000.0, use_sliding_window=False,
                                        bos_token_id=None, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                                        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>")))


def llama3(vocab, tokenizer):
    return LlamaForCausalLM(LlamaConfig(
        **common(vocab), mlp_bias=False,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500_000.0, "factor": 32.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
        bos_token_id=tokenizer.convert_tokens_to_ids("<|begin_of_text|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|end_of_text|>"), pad_token_id=None))


FOLDERS = {"tiny-qwen3-bpe": ("bpe-qwen2", qwen3), "tiny-llama3-bpe": ("bpe-llama3", llama3)}


def build(name):
    vocab_folder, make = FOLDERS[name]
    out = os.path.join(ROOT, name)
    os.makedirs(out, exist_ok=True)
    for file in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(ROOT, vocab_folder, file), os.path.join(out, file))
    tokenizer = AutoTokenizer.from_pretrained(out)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = make(len(tokenizer), tokenizer).float().eval()
    randomise(model, model.config.model_type, gen)
    model.save_pretrained(out, safe_serialization=True)
    generation = os.path.join(out, "generation_config.json")
    if os.path.exists(generation):
        os.remove(generation)

    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
    tensors, rows = {}, []
    with torch.inference_mode():
        for k, text in enumerate(TEXTS):
            ids = tokenizer(text, add_special_tokens=True)["input_ids"]
            tensors[f"input_ids_{k}"] = torch.tensor(ids, dtype=torch.float32)
            rows.append(reloaded(input_ids=torch.tensor([ids])).logits[0, -1].float())
    tensors["logits"] = torch.stack(rows).contiguous()
    save_file(tensors, os.path.join(out, "text_reference.safetensors"), metadata={"texts": json.dumps(TEXTS)})
    # The tokenizer files are not kept here (they would be a second copy of bpe-<family>'s): tests and
    # tools/check_bpe_export.sh put them beside the weights when they assemble a model folder.
    for file in ("tokenizer.json", "tokenizer_config.json"):
        os.remove(os.path.join(out, file))
    sizes = {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}
    assert sum(sizes.values()) < 600_000, sizes
    print(f"{name}: {type(model).__name__}, vocab {len(tokenizer)}, files {sizes}", file=sys.stderr)


def main():
    torch.set_num_threads(1)
    for name in FOLDERS:
        build(name)


if __name__ == "__main__":
    main()
