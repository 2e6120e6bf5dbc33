#!/usr/bin/env python3
"""Token ids that transformers gives SST-2 sentences, for the Swift tokenizer's agreement test.

    python3 tools/reference/reference_token_ids.py --model models/gemma-3-270m --data "$SST2_DIR" \\
        --out models/reference/gemma-3-270m-sst2-token-ids.json

Tokenises every dev sentence and the first 5,000 train sentences with
`AutoTokenizer.from_pretrained(model_dir)` and `add_special_tokens=False` (the ids a Hugging Face
user would feed the model, without <bos>), and writes

    {"dev": [[ids], ...], "train": [[ids], ...], "dev_text": [...], "train_text": [...],
     "transformers_version": "...", "tokenizer_class": "...", "sentencepiece_differences": N}

The texts are stored too, so the Swift test (Tests/TokenizersTests/TransformersTokenIDTests.swift)
can check that it read the same sentences before it compares ids.

Sentences are read as Tests/TokenizersTests/TestSupport.swift reads them: lines split on "\\n"
(empty lines skipped), one trailing "\\r" removed (train.tsv has CRLF), header first, text column
found by name (sentence / content / text), fields split on tab, text NOT trimmed.

Also prints how many sentences the `sentencepiece` package's `encode` tokenises differently from
transformers (expected 0: the rebuilt tokenizer.model should agree with transformers exactly).
"""

import argparse
import json
import os
import sys
import time

TEXT_COLUMNS = ("sentence", "content", "text")
TRAIN_LIMIT = 5000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_sentences(path: str, limit: int | None = None) -> list[str]:
    """The text column of an SST-2 TSV, found by header name (see the module docstring)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        sys.exit(f"{path}: cannot read SST-2 file: {error} (set --data to the folder with dev.tsv/train.tsv)")
    lines = []
    for raw in data.split(b"\n"):
        if not raw:
            continue
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        lines.append(raw.decode("utf-8"))
    if not lines:
        sys.exit(f"{path}: empty file")
    header = lines[0].split("\t")
    column = next((i for i, name in enumerate(header) if name in TEXT_COLUMNS), None)
    if column is None:
        sys.exit(f"{path}: no {'/'.join(TEXT_COLUMNS)} column in header {header[:4]}")
    sentences = []
    for number, line in enumerate(lines[1:], start=2):
        if limit is not None and len(sentences) == limit:
            break
        fields = line.split("\t")
        if column >= len(fields):
            sys.exit(f"{path}:{number}: short row {line!r}")
        sentences.append(fields[column])
    return sentences


def read_comparison_set(data_dir: str) -> tuple[list[str], list[str]]:
    """Every dev.tsv sentence and the first TRAIN_LIMIT of train.tsv: the sentences whose ids are compared."""
    dev = read_sentences(os.path.join(data_dir, "dev.tsv"))
    train = read_sentences(os.path.join(data_dir, "train.tsv"), limit=TRAIN_LIMIT)
    if len(train) != TRAIN_LIMIT:
        sys.exit(f"{data_dir}/train.tsv: only {len(train)} sentences, expected at least {TRAIN_LIMIT}")
    return dev, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="HF model folder with tokenizer.model (+ tokenizer_config.json)")
    ap.add_argument("--data", required=True, help="SST-2 folder with dev.tsv and train.tsv")
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()

    started = time.time()
    import sentencepiece
    import transformers
    from transformers import AutoTokenizer

    dev, train = read_comparison_set(args.data)
    log(f"{len(dev)} dev + {len(train)} train sentences from {args.data}")

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    log(f"transformers {transformers.__version__}: {type(tokenizer).__name__} from {args.model} "
        f"({time.time() - started:.1f} s)")

    def encode(sentences: list[str]) -> list[list[int]]:
        return [list(map(int, ids)) for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]]

    reference = {"dev": encode(dev), "train": encode(train)}

    spm_path = os.path.join(args.model, "tokenizer.model")
    sp = sentencepiece.SentencePieceProcessor(model_file=spm_path)
    differences = 0
    for split, sentences in (("dev", dev), ("train", train)):
        for index, (text, ids) in enumerate(zip(sentences, reference[split])):
            theirs = sp.encode(text)
            if theirs != ids:
                differences += 1
                if differences <= 5:
                    log(f"differs: {split}[{index}] {text!r}: transformers {ids} vs sentencepiece {theirs}")
    total = len(dev) + len(train)
    log(f"sentencepiece {sentencepiece.__version__} encode differs from transformers on "
        f"{differences} of {total} sentences")

    out = {
        "dev": reference["dev"],
        "train": reference["train"],
        "dev_text": dev,
        "train_text": train,
        "transformers_version": transformers.__version__,
        "tokenizer_class": type(tokenizer).__name__,
        "sentencepiece_differences": differences,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    temporary = args.out + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
    os.replace(temporary, args.out)
    log(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB) in {time.time() - started:.1f} s")
    print(f"{differences} of {total} sentences differ between sentencepiece and transformers")


if __name__ == "__main__":
    main()
