#!/usr/bin/env python3
"""PyTorch gradient of the label-description loss on all-MiniLM-L6-v2, for the Swift backward test.

    python3 tools/reference/reference_encoder_gradients.py --model models/all-minilm-l6-v2 --data "$SST2_DIR" \\
        --out models/reference/minilm_sst2_grads.safetensors [--batch-size 16] [--temperature 0.05]

The batch: the two SST-2 label descriptions ("a negative movie review", "a positive movie review"),
then the first --batch-size train sentences, tokenised by BertTokenizer ([CLS] ... [SEP], right
padded). transformers' BertModel (eager attention, f32, eval mode so no dropout) gives the last
hidden states; sentence-transformers' pooling follows: attention-mask-weighted mean, then
F.normalize. logits[i, k] = cos(sentence i, description k) / T, loss = cross-entropy (mean).

Written: `input_ids` and `attention_mask` (B, T) and `labels` (S,) as f32, `loss` (1,), and the
gradient of every parameter under its Hugging Face name (the pooler has none: mean pooling does
not use it). Also prints how long forward + backward took.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_encoder import read_labels  # noqa: E402
from reference_token_ids import log, read_sentences  # noqa: E402

DESCRIPTIONS = ["a negative movie review", "a positive movie review"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    from transformers import AutoModel, BertTokenizer

    torch.set_num_threads(args.threads)
    sentences = read_sentences(os.path.join(args.data, "train.tsv"), limit=args.batch_size)
    labels = read_labels(os.path.join(args.data, "train.tsv"))[: args.batch_size]
    tokenizer = BertTokenizer.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model, attn_implementation="eager", dtype=torch.float32)
    model.eval()   # no dropout; gradients still flow
    texts = DESCRIPTIONS + sentences
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    K = len(DESCRIPTIONS)

    started = time.perf_counter()
    model.zero_grad(set_to_none=True)
    hidden = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    u = F.normalize(pooled, p=2, dim=1)
    logits = u[K:] @ u[:K].T / args.temperature
    loss = F.cross_entropy(logits, torch.tensor(labels))
    loss.backward()
    seconds = time.perf_counter() - started

    tensors = {
        "input_ids": encoded["input_ids"].float().contiguous(),
        "attention_mask": encoded["attention_mask"].float().contiguous(),
        "labels": torch.tensor(labels, dtype=torch.float32),
        "loss": loss.detach().reshape(1),
    }
    for name, parameter in model.named_parameters():
        if parameter.grad is not None:
            tensors[name] = parameter.grad.detach().float().contiguous()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(tensors, args.out, metadata={"temperature": str(args.temperature), "descriptions": "|".join(DESCRIPTIONS)})
    log(f"loss {loss.item():.6f}; forward + backward {seconds:.3f} s on {encoded['input_ids'].shape} tokens "
        f"({int(encoded['attention_mask'].sum())} real); wrote {args.out} ({len(tensors) - 4} gradients)")


if __name__ == "__main__":
    main()
