#!/usr/bin/env python3
"""sentence-transformers' all-MiniLM-L6-v2 on SST-2 dev: the reference the Swift encoder is checked against.

    python3 tools/reference/reference_encoder.py --model models/all-minilm-l6-v2 --data "$SST2_DIR" \\
        --out models/reference/minilm_dev_embeddings.safetensors \\
        --zero-shot models/reference/minilm_sst2_zeroshot.json [--fixture Tests/Fixtures/minilm/embeddings.json]

1. Embeddings: `SentenceTransformer(model_dir, device="cpu")` (the folder's modules.json builds
   Transformer → mean Pooling → Normalize, as the hub model does) encodes all 872 dev sentences at
   batch 32; written as `embeddings` (872, 384) f32 with `lengths` (872,) f32 (F32 so the Swift reader takes it), the token counts
   including [CLS]/[SEP]. The first sentences, their ids and embeddings also go to --fixture (small
   JSON committed under Tests/Fixtures/minilm/, so the test has something to compare against without
   the reference run).
2. Zero-shot SST-2 with label descriptions: for each pair of descriptions (label 0, label 1) the
   prediction is the label whose description embedding has the larger cosine with the sentence's
   (the temperature only scales the logits, so it never changes the prediction). Written to
   --zero-shot as {"pairs": [{"descriptions": [...], "predictions": [...], "accuracy": x}, ...]}.

Sentences are read exactly as tools/reference/reference_token_ids.py reads them.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_token_ids import log, read_sentences  # noqa: E402

DESCRIPTION_PAIRS = [
    ["a negative movie review", "a positive movie review"],
    ["It was terrible.", "It was great."],
]
FIXTURE_SENTENCES = 4


def read_labels(path: str) -> list[int]:
    """The label column of dev.tsv (same line handling as read_sentences)."""
    with open(path, "rb") as f:
        lines = [raw[:-1] if raw.endswith(b"\r") else raw for raw in f.read().split(b"\n") if raw]
    header = lines[0].decode().split("\t")
    column = header.index("label")
    return [int(line.decode().split("\t")[column]) for line in lines[1:]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="sentence-transformers folder (tools/setup/fetch_encoder.py)")
    ap.add_argument("--data", required=True, help="SST-2 folder with dev.tsv")
    ap.add_argument("--out", required=True, help="safetensors file for the dev embeddings")
    ap.add_argument("--zero-shot", required=True, help="JSON file for the zero-shot predictions")
    ap.add_argument("--fixture", help="also write the first sentences' ids and embeddings to this JSON file")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    started = time.time()
    import numpy as np
    import sentence_transformers
    import torch
    import transformers
    from safetensors.numpy import save_file
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    dev = read_sentences(os.path.join(args.data, "dev.tsv"))
    labels = read_labels(os.path.join(args.data, "dev.tsv"))
    if len(labels) != len(dev):
        sys.exit(f"{args.data}/dev.tsv: {len(dev)} sentences but {len(labels)} labels")
    model = SentenceTransformer(args.model, device="cpu")
    log(f"sentence-transformers {sentence_transformers.__version__}, transformers {transformers.__version__}, "
        f"torch {torch.__version__}: {model}")
    with torch.inference_mode():
        embeddings = model.encode(dev, batch_size=32, convert_to_numpy=True, normalize_embeddings=False)
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(embeddings, axis=1)
    if not np.allclose(norms, 1, atol=1e-5):
        sys.exit(f"{args.model}: embeddings are not unit length (norms {norms.min()}..{norms.max()}); "
                 "is the Normalize module in modules.json?")
    ids = model.tokenizer(dev, truncation=True, max_length=model.max_seq_length)["input_ids"]
    lengths = np.array([len(i) for i in ids], dtype=np.float32)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file({"embeddings": embeddings, "lengths": lengths}, args.out,
              metadata={"model": os.path.basename(os.path.normpath(args.model)),
                        "sentence_transformers": sentence_transformers.__version__,
                        "max_seq_length": str(model.max_seq_length)})
    log(f"wrote {args.out}: {embeddings.shape} in {time.time() - started:.1f} s")

    pairs = []
    for descriptions in DESCRIPTION_PAIRS:
        with torch.inference_mode():
            described = model.encode(descriptions, convert_to_numpy=True)
        cosine = embeddings @ described.T          # both unit length
        predictions = cosine.argmax(axis=1).tolist()
        accuracy = float(np.mean(np.array(predictions) == np.array(labels)))
        margin = np.abs(cosine[:, 1] - cosine[:, 0])
        pairs.append({"descriptions": descriptions, "predictions": predictions, "accuracy": accuracy,
                      "cosine_margin": margin.tolist()})
        log(f"zero-shot {descriptions}: accuracy {accuracy * 100:.2f}%")
    with open(args.zero_shot, "w", encoding="utf-8") as f:
        json.dump({"pairs": pairs, "labels": labels, "n": len(dev)}, f)
    log(f"wrote {args.zero_shot}")

    if args.fixture:
        fixture = {
            "sentences": dev[:FIXTURE_SENTENCES],
            "input_ids": [list(map(int, i)) for i in ids[:FIXTURE_SENTENCES]],
            "embeddings": [[float(x) for x in row] for row in embeddings[:FIXTURE_SENTENCES]],
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
        }
        os.makedirs(os.path.dirname(os.path.abspath(args.fixture)), exist_ok=True)
        with open(args.fixture, "w", encoding="utf-8") as f:
            json.dump(fixture, f, indent=1)
        log(f"wrote {args.fixture}")


if __name__ == "__main__":
    main()
