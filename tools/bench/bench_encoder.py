#!/usr/bin/env python3
"""Side-by-side sentence-embedding throughput: zofinetune's encoder vs sentence-transformers.

  python3 tools/bench/bench_encoder.py [--model models/all-minilm-l6-v2] [--data data/sst2] [--batch-size 32]
                                 [--threads 2] [--repeats 3] [--rounds 2] [--binary .build/release/zofinetune]
                                 [--precision fp32|bf16]

Both sides do the same work on every SST-2 dev sentence: tokenise, forward at --batch-size
sentences a pass, mean-pool, L2-normalise (sentence-transformers: `model.encode(sentences,
batch_size=B)`, which also sorts by length to cut padding; zofinetune: `zofinetune bench --model`,
packed sequences, no padding). Each side reports the best of --repeats passes after a warm-up, on
--threads threads. The sides run one after the other, --rounds times alternating. Reported: the
best of each side, and the ratio of each round's pair (run seconds apart, so under the same load)
with their median. On a shared machine the ratio moves with the load: sentence-transformers' thread
pool suffers more than zofinetune from a competing process (on the project machine: ~1.5x when
quiet, 3-6x while another build runs), so compare rounds taken when the machine is quiet.
"""
import statistics
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
from reference_token_ids import log, read_sentences  # noqa: E402


def sentence_transformers_side(model_dir: str, sentences: list[str], batch_size: int, threads: int,
                               repeats: int) -> dict:
    """Runs in a child process (--side st) so that torch's thread pool does not outlive it."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(model_dir, device="cpu")
    with torch.inference_mode():
        model.encode(sentences[: 2 * batch_size], batch_size=batch_size)   # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            model.encode(sentences, batch_size=batch_size)
            best = min(best, time.perf_counter() - start)
    return {"sentences": len(sentences), "seconds": best, "sentences_per_second": len(sentences) / best,
            "threads": torch.get_num_threads(), "batch_size": batch_size}


def run_json(cmd: list[str]) -> dict:
    log("$ " + " ".join(cmd))
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/all-minilm-l6-v2")
    ap.add_argument("--data", default=os.environ.get("SST2_DIR", "data/sst2"))
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--binary", default=".build/release/zofinetune")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="zofinetune's matrix products (bf16: oneDNN, needs AVX512_BF16)")
    ap.add_argument("--side", choices=["st"], help=argparse.SUPPRESS)
    a = ap.parse_args()

    sentences = read_sentences(os.path.join(a.data, "dev.tsv"))
    if a.side == "st":
        print(json.dumps(sentence_transformers_side(a.model, sentences, a.batch_size, a.threads, a.repeats)))
        return

    ours_runs, theirs_runs = [], []
    for _ in range(a.rounds):
        theirs_runs.append(run_json([sys.executable, os.path.abspath(__file__), "--side", "st", "--model", a.model,
                                     "--data", a.data, "--batch-size", str(a.batch_size),
                                     "--threads", str(a.threads), "--repeats", str(a.repeats)]))
        ours_runs.append(run_json([a.binary, "bench", "--model", a.model, "--data", a.data,
                                   "--encoder-batch-size", str(a.batch_size), "--repeats", str(a.repeats),
                                   "--threads", str(a.threads), "--precision", a.precision, "--json"])["encoder"])
    ours = max(ours_runs, key=lambda r: r["sentences_per_second"])
    theirs = max(theirs_runs, key=lambda r: r["sentences_per_second"])
    ratio = ours["sentences_per_second"] / theirs["sentences_per_second"]
    paired = [o["sentences_per_second"] / t["sentences_per_second"] for o, t in zip(ours_runs, theirs_runs)]
    print(f"{len(sentences)} SST-2 dev sentences, batch {a.batch_size}, {a.threads} threads, zofinetune {a.precision}, best of "
          f"{a.rounds} rounds x {a.repeats} passes")
    print(f"{'':28}{'zofinetune':>12}{'sentence-tr.':>14}{'ratio':>8}")
    print(f"{'sentences/s':28}{ours['sentences_per_second']:12.1f}{theirs['sentences_per_second']:14.1f}{ratio:7.2f}x")
    print(f"{'seconds for all':28}{ours['seconds']:12.3f}{theirs['seconds']:14.3f}")
    print(f"per-round ratios {', '.join(f'{r:.2f}x' for r in paired)}; median {statistics.median(paired):.2f}x")
    print(json.dumps({"zofinetune": ours, "sentence_transformers": theirs, "ratio": ratio,
                      "paired_ratios": paired, "median_paired_ratio": statistics.median(paired),
                      "rounds": {"zofinetune": [r["sentences_per_second"] for r in ours_runs],
                                 "sentence_transformers": [r["sentences_per_second"] for r in theirs_runs]}}))


if __name__ == "__main__":
    main()
