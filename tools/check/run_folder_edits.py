#!/usr/bin/env python3
"""Random edits of real run folders, as a user editing run.json or log.jsonl by hand would, each
fed to `train --resume`, `eval --run` and `export`. The run folders are made first on the tiny
Qwen3 fixture (tools/check/kill_harness.py's), one per optimizer and PEFT mode: 3 steps, an evaluation
after step 2, snapshots. Each edit changes one value (or two) of run.json's configuration or of
one log line, deletes a key or resizes a list.

Every outcome must be success or a clean refusal: exit status 1..127 with an error that names the
file (run.json or log.jsonl) and the key edited. A signal (a Swift trap is SIGILL/SIGTRAP, a
segmentation fault SIGSEGV) or a timeout is a crash; a refusal that does not name the file and
key is counted as unnamed. Both are printed with the edit, to become regression tests.

  python3 tools/check/run_folder_edits.py --binary .build/debug/zofinetune [--edits 1000] [--seed 0] [--json]

Prints one JSON summary on stdout; exit status 1 when any edit crashed or was refused unnamed.
"""
import argparse, copy, json, os, random, shutil, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools", "check"))
from kill_harness import tiny_folders  # noqa: E402  (the same tiny model and data)

# (name, extra train flags): every optimizer on the whole model, and the PEFT modes.
RUNS = [(o, ["--optimizer", o]) for o in
        ["mezo", "zo-sign", "zo-momentum", "zo-adam", "zo-cons", "fzoo", "hizoo", "lozo", "sparse-mezo", "sgd", "adamw"]]
RUNS += [("mezo-lora", ["--peft", "lora", "--lora-rank", "2"]), ("mezo-prefix", ["--peft", "prefix", "--prefix-tokens", "2"]),
         ("adamw-lora", ["--optimizer", "adamw", "--peft", "lora", "--lora-rank", "2"]),
         ("hizoo-prefix", ["--optimizer", "hizoo", "--peft", "prefix", "--prefix-tokens", "2"])]

VALUES = [0, -1, -7, 1, 2, 3, 2**31, 2**62, 2**63 - 1, -2**63, 10**30, 1e308, -1e308, 0.5, -0.5, 1e-30,
          "nan", "inf", "-inf", None, "x", "", [], {}, True, False, [0], [-1], [2**31], [1e308]]


def leaves(node, path=()):
    """Paths of every value inside a JSON document (dict keys and list indices)."""
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, path + (i,))


def get(node, path):
    for p in path:
        node = node[p]
    return node


def key_of(path):
    """The names an error may give: the dict keys on the path, innermost first (an edit inside
    task_file.spec.labels is named by any of labels, spec, task_file)."""
    return [p for p in reversed(path) if isinstance(p, str)] or None


def mutate(doc, rng, keys_for_new):
    """One change of `doc` in place; returns the key it touched."""
    paths = [p for p in leaves(doc) if p]
    if not paths:
        return None
    path = rng.choice(paths)
    parent, last = get(doc, path[:-1]), path[-1]
    old = parent[last]
    r = rng.random()
    if r < 0.1 and isinstance(parent, dict):
        del parent[last]
    elif r < 0.2 and isinstance(old, list):
        if old and rng.random() < 0.5:
            old.pop(rng.randrange(len(old)))
        else:
            old.append(rng.choice(old) if old and rng.random() < 0.5 else rng.choice(VALUES))
    elif r < 0.3 and isinstance(old, list) and len(old) > 1:
        rng.shuffle(old)
    elif r < 0.4 and isinstance(old, (int, float)) and not isinstance(old, bool):
        parent[last] = old * rng.choice([2, 10, 1000, -1, 1e30]) + rng.choice([0, 1, -1])
    elif r < 0.45 and keys_for_new and isinstance(parent, dict):
        new = rng.choice(keys_for_new)
        parent[new] = rng.choice(VALUES)
        return [new] + (key_of(path[:-1]) or [])
    else:
        parent[last] = copy.deepcopy(rng.choice(VALUES))
    return key_of(path)


# run.json keys a decoder run may not hold but a user could add (encoder, PEFT, auto lr settings).
NEW_CONFIG_KEYS = ["temperature", "label_descriptions", "lora_rank", "lora_alpha", "lora_targets", "prefix_tokens",
                   "micro_batch", "k_shot", "eval_examples", "lr_auto", "lozo_interval", "sparse_quantile", "peft"]
NEW_RECORD_KEYS = ["embedding_rows", "losses", "loss_0", "g", "seeds"]


def edit_folder(folder, rng):
    """Edits run.json or one log line (1 or 2 changes); returns (file name, key, description)."""
    if rng.random() < 0.5:
        path = os.path.join(folder, "run.json")
        doc = json.load(open(path))
        keys = [mutate(doc["config"] if isinstance(doc.get("config"), dict) and rng.random() < 0.85 else doc, rng, NEW_CONFIG_KEYS)
                for _ in range(rng.choice([1, 1, 1, 2]))]
        with open(path, "w") as f:
            json.dump(doc, f)
        return "run.json", keys, json.dumps(doc["config"] if isinstance(doc, dict) and isinstance(doc.get("config"), dict) else doc)[:300]
    path = os.path.join(folder, "log.jsonl")
    lines = [json.loads(l) for l in open(path) if l.strip()]
    i = rng.randrange(len(lines))
    target = lines[i]
    inner = target.get("record") or target.get("update")
    doc = inner if isinstance(inner, dict) and rng.random() < 0.8 else target
    keys = [mutate(doc, rng, NEW_RECORD_KEYS if doc is target.get("record") else []) for _ in range(rng.choice([1, 1, 1, 2]))]
    with open(path, "w") as f:
        f.write("".join(json.dumps(l) + "\n" for l in lines))
    return "log.jsonl", keys, f"line {i + 1}: {json.dumps(lines[i])[:300]}"


def run(binary, args, timeout):
    try:
        p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        return "timeout", ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(REPO, ".build/debug/zofinetune"))
    ap.add_argument("--edits", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--only", type=int, nargs="+", metavar="EDIT", help="run only these edit numbers (of the same --seed and --edits)")
    ap.add_argument("--write-seeds", metavar="DIR", help="also write each base run as a seed of the run.replay fuzz target "
                    "(run.json's config, a NUL byte, log.jsonl) into DIR (Tests/Fuzz/seeds/run.replay)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="zf-run-edits-")
    started = time.time()
    model, data = tiny_folders(os.path.join(work, "tiny"))
    common = ["--model", model, "--task", "sst2", "--data", data]
    bases = {}
    for name, flags in RUNS:
        folder = os.path.join(work, "base-" + name)
        code, err = run(a.binary, ["train"] + common + flags + ["--steps", "3", "--batch-size", "2", "--train-examples", "8",
                                                                 "--eval-every", "2", "--lr", "1e-3", "--threads", "1", "--out", folder], 300)
        if code != 0:
            print(f"base run {name} failed ({code}):\n{err[-2000:]}", file=sys.stderr)
            return 2
        bases[name] = folder
        if a.write_seeds:
            os.makedirs(a.write_seeds, exist_ok=True)
            config = json.dumps(json.load(open(os.path.join(folder, "run.json")))["config"], sort_keys=True)
            with open(os.path.join(a.write_seeds, name), "wb") as f:
                f.write(config.encode() + b"\0" + open(os.path.join(folder, "log.jsonl"), "rb").read())
    outcomes = {"ok": 0, "refused_named": 0, "refused_unnamed": 0, "crash": 0}
    crashes, unnamed = [], []
    commands = {
        "resume": lambda f, run: ["train"] + common + ["--resume", f, "--steps", "4", "--threads", "1"],
        "eval": lambda f, run: ["eval"] + common + ["--run", f, "--at", "last", "--limit", "4", "--threads", "1"],
        "export": lambda f, run: ["export", "--model", model, "--run", f, "--at", "last", "--out", f + "-export", "--threads", "1"]
                  + (["--adapter"] if "prefix" in run else []),  # a prefix run exports only as an adapter
    }
    for i in range(a.edits):
        name = rng.choice(sorted(bases))
        if a.only and i not in a.only:
            continue
        for command, args in commands.items():
            folder = os.path.join(work, f"edit-{i}-{command}")
            shutil.copytree(bases[name], folder)
            file, keys, shown = edit_folder(folder, random.Random(a.seed * 1_000_003 + i))  # the same edit for all three
            code, err = run(a.binary, args(folder, name), a.timeout)
            what = {"edit": i, "run": name, "command": command, "file": file, "keys": keys, "status": code, "edited": shown}
            if code == 0:
                outcomes["ok"] += 1
            elif isinstance(code, int) and 0 < code < 128:
                named = file in err and any(k is None or any(n in err for n in k) for k in keys)
                outcomes["refused_named" if named else "refused_unnamed"] += 1
                if not named:
                    what["stderr"] = err.strip()[-400:]
                    unnamed.append(what)
                    print("UNNAMED " + json.dumps(what), file=sys.stderr, flush=True)
            else:
                outcomes["crash"] += 1
                what["stderr"] = err.strip()[-400:]
                crashes.append(what)
                print("CRASH " + json.dumps(what), file=sys.stderr, flush=True)
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(folder + "-export", ignore_errors=True)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    summary = {"edits": len(a.only) if a.only else a.edits, "runs": sum(outcomes.values()), "base_runs": len(bases), **outcomes,
               "seconds": round(time.time() - started, 1)}
    print(json.dumps(summary))
    return 1 if crashes or unnamed else 0


if __name__ == "__main__":
    sys.exit(main())
