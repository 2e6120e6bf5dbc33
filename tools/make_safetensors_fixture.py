#!/usr/bin/env python3
"""Writes the safetensors fixtures the Weights tests check against, with Python's own library.

    python3 tools/make_safetensors_fixture.py   # needs torch, numpy, safetensors (pip)

Outputs in Tests/Fixtures/safetensors/:
  mixed.safetensors   F32, F16 and BF16 tensors of several shapes (scalar, empty, 1-D, 3-D), an I64
                      tensor the reader must list but refuse to read as floats, and __metadata__.
  mixed.json          for each float tensor: dtype, shape, and the exact f32 values after widening,
                      as uint32 bit patterns (JSON cannot hold NaN/Inf/-0 faithfully) and as floats.
  f32.safetensors     F32 tensors only, one metadata key: SafeTensorsWriter must reproduce it byte for byte.
  f32.json            the tensors of f32.safetensors (name, shape, bit patterns) and the metadata.
"""
import json
import os

import numpy as np
import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "safetensors")


def bits(t: torch.Tensor) -> list:
    """Exact f32 bit patterns of t widened to f32 (what the Swift reader must produce).

    F16 is widened by numpy (IEEE: a NaN keeps its payload, 0x7E00 -> 0x7FC00000); torch's own
    f16 -> f32 turns every NaN into 0x7FFFFFFF, which is not what a hardware conversion gives.
    """
    if t.dtype == torch.float16:
        return t.contiguous().numpy().astype(np.float32).view(np.uint32).reshape(-1).tolist()
    return t.to(torch.float32).contiguous().numpy().view(np.uint32).reshape(-1).tolist()


def values(t: torch.Tensor) -> list:
    """Readable values; non-finite ones as strings so the JSON stays standard."""
    out = []
    for v in t.to(torch.float32).reshape(-1).tolist():
        out.append(v if np.isfinite(v) else str(v))
    return out


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    special = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1035156e-05, 5.9604645e-08, float("inf"),
                            float("-inf"), float("nan")])
    tensors = {
        "model.embed.weight": torch.randn(5, 4, generator=g, dtype=torch.float32),
        "model.layers.0.attn.q.weight": torch.randn(2, 3, 4, generator=g).to(torch.float16),
        "model.layers.0.norm.weight": torch.randn(7, generator=g).to(torch.bfloat16),
        "special.f16": special.to(torch.float16),           # max, smallest normal, subnormal, ±inf, nan, -0
        "special.bf16": (special * 1e30).to(torch.bfloat16),  # bf16 keeps f32's exponent range
        "scalar.f32": torch.tensor(3.25, dtype=torch.float32),
        "empty.f32": torch.zeros(0, 3, dtype=torch.float32),
        "position_ids": torch.arange(6, dtype=torch.int64).reshape(1, 6),
    }
    save_file(tensors, os.path.join(OUT, "mixed.safetensors"), metadata={"format": "pt", "note": "fixture"})
    expected = {
        "metadata": {"format": "pt", "note": "fixture"},
        "tensors": {
            name: {"dtype": {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[t.dtype],
                   "shape": list(t.shape), "bits": bits(t), "values": values(t)}
            for name, t in tensors.items() if t.dtype != torch.int64
        },
        "unreadable": {"position_ids": {"dtype": "I64", "shape": [1, 6]}},
    }
    with open(os.path.join(OUT, "mixed.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)

    f32 = {
        "b.weight": torch.randn(3, 2, generator=g),
        "a.bias": torch.randn(3, generator=g),
        "a.weight": torch.randn(2, 2, 2, generator=g),  # 32 bytes; a.bias ends at 12 → data not 8-aligned per tensor
        "c": torch.tensor(-1.0),
    }
    save_file(f32, os.path.join(OUT, "f32.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(OUT, "f32.json"), "w") as f:
        json.dump({"metadata": {"format": "pt"},
                   "tensors": [{"name": n, "shape": list(t.shape), "bits": bits(t)} for n, t in f32.items()]},
                  f, indent=1)


if __name__ == "__main__":
    main()
