#!/usr/bin/env python3
"""Tiny random encoders with transformers' outputs, for the Swift encoder tests.

    python3 tools/make_encoder_fixtures.py        (from the repository root; deterministic, seed 1234)

Writes, under Tests/Fixtures/NAME/:

  config.json, model.safetensors   save_pretrained, all tensors F32
  reference.safetensors            (B = 3 sequences, T = 9, right padding, real lengths 9, 5, 2)
      input_ids       (B, T)  ids as F32, padded slots hold the pad id
      attention_mask  (B, T)  1 on real tokens
      last_hidden     (B, T, C)  the model's last_hidden_state (compare real positions only)
      embeddings      (B, C)  attention-mask mean of last_hidden, then F.normalize (sentence-transformers)

Fixtures, each exercising what all-MiniLM-L6-v2 does not:
  tiny-roberta   RobertaModel: positions start at padding_idx + 1 = 2, pad id 1, type_vocab_size 1
  tiny-bert-mlm  BertForMaskedLM: every name prefixed "bert.", plus the MLM head "cls.predictions.*"
                 the engine skips; type_vocab_size 2

f32, attn_implementation="eager", model.eval(), no dropout.
"""

import os

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file
from transformers import BertConfig, BertForMaskedLM, RobertaConfig, RobertaModel

SEED = 1234
LENGTHS = [9, 5, 2]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMMON = dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
              hidden_act="gelu", layer_norm_eps=1e-12, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def make(name: str, model, pad_id: int, base) -> None:
    folder = os.path.join(ROOT, "Tests", "Fixtures", name)
    os.makedirs(folder, exist_ok=True)
    model.eval()
    # Random weights are small (initializer_range 0.02); spread them so every op matters.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(folder, safe_serialization=True)
    generator = torch.Generator().manual_seed(SEED + 1)
    T = max(LENGTHS)
    ids = torch.full((len(LENGTHS), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(LENGTHS), T), dtype=torch.long)
    for b, n in enumerate(LENGTHS):
        ids[b, :n] = torch.randint(3, 97, (n,), generator=generator)
        mask[b, :n] = 1
    with torch.no_grad():
        hidden = base(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        embeddings = F.normalize((hidden * m).sum(1) / m.sum(1), p=2, dim=1)
    save_file({"input_ids": ids.float(), "attention_mask": mask.float(), "last_hidden": hidden.contiguous(),
               "embeddings": embeddings.contiguous()},
              os.path.join(folder, "reference.safetensors"),
              metadata={"transformers": transformers.__version__, "torch": torch.__version__})
    print(f"wrote {folder}")


def main() -> None:
    torch.manual_seed(SEED)
    roberta = RobertaModel(RobertaConfig(pad_token_id=1, max_position_embeddings=20, type_vocab_size=1,
                                         attn_implementation="eager", **COMMON), add_pooling_layer=False)
    make("tiny-roberta", roberta, pad_id=1, base=roberta)

    torch.manual_seed(SEED + 2)
    mlm = BertForMaskedLM(BertConfig(pad_token_id=0, max_position_embeddings=16, type_vocab_size=2,
                                     attn_implementation="eager", **COMMON))
    make("tiny-bert-mlm", mlm, pad_id=0, base=mlm.bert)


if __name__ == "__main__":
    main()
