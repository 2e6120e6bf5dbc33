#!/usr/bin/env python3
"""Writes Tests/Fixtures/tiny-gemma3-bf16: the tiny Gemma-3 fixture with every tensor in bfloat16,
as a bf16 checkpoint from the Hub is stored (torch's own f32 -> bf16 rounding, to nearest even).

    python3 tools/make_bf16_fixture.py   # needs torch, safetensors (pip)

Outputs in Tests/Fixtures/tiny-gemma3-bf16/:
  config.json         copied from tiny-gemma3, with "torch_dtype": "bfloat16"
  model.safetensors   every tensor of tiny-gemma3/model.safetensors as BF16 (save_file)
  bits.safetensors    each tensor's bf16 bit patterns as F32 integers (0 ... 65535, exact in F32):
                      what `--weights bf16` must hold, bit for bit, written by torch independently
                      of the BF16 file under test
"""
import json
import os

import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
SOURCE = os.path.join(ROOT, "tiny-gemma3")
OUT = os.path.join(ROOT, "tiny-gemma3-bf16")


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(SOURCE, "config.json")) as f:
        config = json.load(f)
    config["torch_dtype"] = "bfloat16"
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    tensors = load_file(os.path.join(SOURCE, "model.safetensors"))
    bf16 = {name: t.to(torch.bfloat16).contiguous() for name, t in tensors.items()}
    save_file(bf16, os.path.join(OUT, "model.safetensors"), metadata={"format": "pt"})
    bits = {name: (t.view(torch.int16).to(torch.int32) & 0xFFFF).to(torch.float32) for name, t in bf16.items()}
    save_file(bits, os.path.join(OUT, "bits.safetensors"))
    print(f"wrote {len(bf16)} tensors to {OUT}")


if __name__ == "__main__":
    main()
