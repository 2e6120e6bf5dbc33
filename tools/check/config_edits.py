#!/usr/bin/env python3
"""Random edits of a model folder's config.json, each run through `zofinetune prompt`, as a new
user tinkering with a config would: a value set to zero, a negative, a huge size, null, or the
wrong type. Every outcome must be a clean error (exit status 1..127 with a message) or success;
a signal (segmentation fault, Swift trap = SIGILL/SIGTRAP) or a timeout is a crash, and the edit
that caused it is printed so it can become a regression test.

  python3 tools/check/config_edits.py --binary .build/release/zofinetune --model DIR [--edits 300] [--seed 0]

DIR is a complete model folder (config.json, weights, tokenizer); it is copied, never changed.
"""
import argparse, json, os, random, shutil, subprocess, sys, tempfile

VALUES = [0, -1, -7, 1, 2, 3, 2**31, 2**62, 2**63 - 1, -2**63, 10**30, 1e308, -1e308, 0.5, None, "x", "", [], {}, True, False, [0], [-1]]


def edits(config, rng):
    """One random change of one or two keys: the configs in the issue broke on single-key edits."""
    c = json.loads(json.dumps(config))
    for _ in range(rng.choice([1, 1, 1, 2])):
        key = rng.choice(sorted(c.keys()))
        c[key] = rng.choice(VALUES) if rng.random() < 0.8 else (c[key] * rng.choice([2, 10, 1000, -1]) if isinstance(c[key], (int, float)) and not isinstance(c[key], bool) else None)
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=".build/release/zofinetune")
    ap.add_argument("--model", required=True)
    ap.add_argument("--edits", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    base = json.load(open(os.path.join(a.model, "config.json")))
    work = tempfile.mkdtemp(prefix="zf-config-edits-")
    for name in os.listdir(a.model):
        if name != "config.json":
            os.symlink(os.path.abspath(os.path.join(a.model, name)), os.path.join(work, name))
    crashes, outcomes = [], {"ok": 0, "error": 0}
    for i in range(a.edits):
        config = edits(base, rng)
        with open(os.path.join(work, "config.json"), "w") as f:
            json.dump(config, f)
        try:
            p = subprocess.run([a.binary, "prompt", "--model", work, "it was", "--candidates", " great", " terrible", "--json"],
                               capture_output=True, text=True, timeout=a.timeout)
            code = p.returncode
        except subprocess.TimeoutExpired:
            code, p = "timeout", None
        changed = {k: config[k] for k in config if config.get(k) != base.get(k)}
        if code == 0:
            outcomes["ok"] += 1
        elif isinstance(code, int) and 0 < code < 128:
            outcomes["error"] += 1
        else:
            crashes.append((i, code, changed, (p.stderr[-300:] if p else "")))
            print(f"edit {i}: CRASH ({code}) with {json.dumps(changed)}\n  {(p.stderr[-300:] if p else '').strip()}", flush=True)
    shutil.rmtree(work)
    print(json.dumps({"edits": a.edits, "ok": outcomes["ok"], "clean_errors": outcomes["error"], "crashes": len(crashes)}))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
