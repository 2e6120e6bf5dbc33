#!/usr/bin/env python3
"""Tokenisation speed on SST-2 dev: zofinetune's byte-level BPE against the tokenizers library, same run.

    python3 tools/bench/bench_bpe_tokenizer.py --data "$SST2_DIR" [--repeats 5] [--json]

For each committed vocabulary (Tests/Fixtures/bpe-gpt2, bpe-llama3, bpe-qwen2, bpe-smollm) and each side, the
872 dev sentences are encoded without special tokens, best of --repeats:

  zofinetune   `zofinetune tokenize --model DIR --file dev.tsv --threads N --json` (N = 1, 2): a fresh
               process each repeat; "cold" = first pass (empty word cache), "warm" = second pass
  tokenizers   `Tokenizer.from_file(tokenizer.json)` freshly loaded each repeat; "cold" = the first
               `encode_batch` (rayon, every core), "warm" = a second one; "1 thread" = a loop of `encode`
               on a fresh tokenizer

Both sides get the same text (the sentence column read as tools/reference/reference_token_ids.py reads it; the
ids are checked equal in Tests/TokenizersTests/ByteLevelBPETransformersTests.swift). Prints a table
and the CPU (its model name); --json prints one JSON object on stdout instead.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from reference_token_ids import log, read_sentences  # noqa: E402
from machine import cpu_name  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FAMILIES = ("gpt2", "llama3", "qwen2", "smollm")


def zofinetune(binary, folder, dev, threads, repeats):
    best = None
    for _ in range(repeats):
        out = subprocess.run([binary, "tokenize", "--model", folder, "--file", dev, "--threads", str(threads), "--json"],
                             capture_output=True, text=True, check=True).stdout
        result = json.loads(out)
        if best is None or result["first_pass_seconds"] < best["first_pass_seconds"]:
            best = dict(result, warm_pass_seconds=min(result["warm_pass_seconds"], (best or result)["warm_pass_seconds"]))
    return best


def tokenizers_library(path, texts, repeats):
    from tokenizers import Tokenizer
    cold = warm = single = float("inf")
    tokens = 0
    for _ in range(repeats):
        tokenizer = Tokenizer.from_file(path)
        start = time.perf_counter()
        encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
        cold = min(cold, time.perf_counter() - start)
        start = time.perf_counter()
        tokenizer.encode_batch(texts, add_special_tokens=False)
        warm = min(warm, time.perf_counter() - start)
        tokens = sum(len(e.ids) for e in encodings)
        tokenizer = Tokenizer.from_file(path)
        start = time.perf_counter()
        for text in texts:
            tokenizer.encode(text, add_special_tokens=False)
        single = min(single, time.perf_counter() - start)
    return {"cold_batch_seconds": cold, "warm_batch_seconds": warm, "one_thread_loop_seconds": single, "tokens": tokens}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="SST-2 folder with dev.tsv")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "zofinetune"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import tokenizers

    dev = os.path.join(args.data, "dev.tsv")
    texts = read_sentences(dev)
    results = {"cpu": cpu_name(), "cores": os.cpu_count(), "sentences": len(texts),
               "tokenizers_version": tokenizers.__version__, "families": {}}
    for family in FAMILIES:
        folder = os.path.join(ROOT, "Tests", "Fixtures", f"bpe-{family}")
        ours = {f"threads_{n}": zofinetune(args.binary, folder, dev, n, args.repeats) for n in (1, 2)}
        theirs = tokenizers_library(os.path.join(folder, "tokenizer.json"), texts, args.repeats)
        if ours["threads_1"]["tokens"] != theirs["tokens"]:
            sys.exit(f"{family}: zofinetune made {ours['threads_1']['tokens']} tokens, tokenizers {theirs['tokens']}")
        results["families"][family] = {"zofinetune": ours, "tokenizers": theirs}

    if args.json:
        print(json.dumps(results))
        return
    ms = lambda s: f"{s * 1e3:6.1f}"  # noqa: E731
    log(f"SST-2 dev, {len(texts)} sentences; CPU {results['cpu']} ({results['cores']} cores); "
        f"tokenizers {tokenizers.__version__}; best of {args.repeats}; milliseconds")
    log("family  tokens | zofinetune 1 thread cold/warm | 2 threads cold/warm | tokenizers batch cold/warm | 1-thread loop")
    for family, r in results["families"].items():
        z1, z2, t = r["zofinetune"]["threads_1"], r["zofinetune"]["threads_2"], r["tokenizers"]
        log(f"{family:7s} {t['tokens']:6d} | {ms(z1['first_pass_seconds'])} / {ms(z1['warm_pass_seconds'])}"
            f"              | {ms(z2['first_pass_seconds'])} / {ms(z2['warm_pass_seconds'])}"
            f"    | {ms(t['cold_batch_seconds'])} / {ms(t['warm_batch_seconds'])}"
            f"            | {ms(t['one_thread_loop_seconds'])}")


if __name__ == "__main__":
    main()
