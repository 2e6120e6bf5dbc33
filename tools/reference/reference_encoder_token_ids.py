#!/usr/bin/env python3
"""Token ids that transformers' BertTokenizer gives SST-2 sentences, for the WordPiece agreement test.

    python3 tools/reference/reference_encoder_token_ids.py --model models/all-minilm-l6-v2 --data "$SST2_DIR" \\
        --out models/reference/minilm_token_ids.json

Tokenises every dev sentence and the first 5,000 train sentences with
`BertTokenizer.from_pretrained(model_dir)` and `add_special_tokens=False` (the word pieces; the
engine adds [CLS]/[SEP] itself), and writes

    {"dev": [[ids], ...], "train": [[ids], ...], "dev_text": [...], "train_text": [...],
     "transformers_version": "...", "tokenizer_class": "..."}

Sentences are read exactly as tools/reference/reference_token_ids.py reads them (its read_comparison_set), so the
Swift test (Tests/TokenizersTests/WordPieceTransformersTests.swift) can check the texts first.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_token_ids import log, read_comparison_set  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="BERT model folder with vocab.txt (+ tokenizer_config.json)")
    ap.add_argument("--data", required=True, help="SST-2 folder with dev.tsv and train.tsv")
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()

    started = time.time()
    import transformers
    from transformers import BertTokenizer

    dev, train = read_comparison_set(args.data)
    tokenizer = BertTokenizer.from_pretrained(args.model)
    log(f"transformers {transformers.__version__}: {type(tokenizer).__name__} from {args.model}; "
        f"{len(dev)} dev + {len(train)} train sentences from {args.data}")

    def encode(sentences: list[str]) -> list[list[int]]:
        return [list(map(int, ids)) for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]]

    out = {
        "dev": encode(dev),
        "train": encode(train),
        "dev_text": dev,
        "train_text": train,
        "transformers_version": transformers.__version__,
        "tokenizer_class": type(tokenizer).__name__,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    temporary = args.out + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
    os.replace(temporary, args.out)
    log(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB) in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
