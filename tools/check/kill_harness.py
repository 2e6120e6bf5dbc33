#!/usr/bin/env python3
"""Kill -9 anywhere: SIGKILLs `zofinetune train` (and `export`) at random moments, resumes each
time, and checks that the finished run is bitwise the run that was never interrupted.

  python3 tools/check/kill_harness.py --binary .build/release/zofinetune --kills 50            # tiny fixture model
  python3 tools/check/kill_harness.py --model models/gemma-3-270m --data data/sst2 --kills 50 --steps 20 ...

Per round: start a fresh run (`train --out`), kill it after a random delay (uniform over the
uninterrupted run's duration; one kill in three instead waits until a snapshot's temporary file
appears and kills then, i.e. inside a snapshot write), `train --resume` it, kill again, … until
a train finishes. Then: every snapshot present after each kill must pass its checksum (XXH64 of
the data, in the header), stale temporary files must be gone after the next resume, and at the
end weights-last (and weights-best, optimizer-last) must equal the reference run's byte for
byte, the log's step records and evaluations too (timings aside). Exports are killed the same
way and the finished export must hold the reference export's tensors bitwise, while a killed
one never leaves a partial --out. Rounds repeat until --kills kills hit a live process.
Prints one JSON summary; exit status 1 on any mismatch.
"""
import argparse, ctypes, json, os, random, shutil, signal, struct, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def xxh64():
    try:
        lib = ctypes.CDLL("libxxhash.so.0")
        lib.XXH64.restype = ctypes.c_uint64
        lib.XXH64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
        return lambda b: "%016x" % lib.XXH64(b, len(b), 0)
    except OSError:
        return None


HASH = xxh64()


def safetensors_parts(path):
    """(metadata, tensor entries, data bytes) of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    return meta, header, raw[8 + n:]


def check_snapshot(path):
    """None if the snapshot is whole (its checksum matches), else why not."""
    try:
        meta, _, data = safetensors_parts(path)
    except Exception as e:  # a torn file at the final path would be a bug of the writer
        return f"unreadable: {e}"
    if HASH and "data_xxh64" in meta and HASH(data) != meta["data_xxh64"]:
        return "checksum mismatch"
    return None


def log_records(run):
    """The log without timings and peak memory (measurements, not results): what must be identical
    between an interrupted and a whole run."""
    out = []
    with open(os.path.join(run, "log.jsonl")) as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                o.pop("seconds", None)
                o.pop("vmhwm", None)
                if isinstance(o.get("record"), dict):
                    o["record"].pop("seconds", None)
                if isinstance(o.get("update"), dict):
                    o["update"].pop("seconds", None)
                out.append(o)
    return out


def temporaries(folder):
    return [n for n in os.listdir(folder) if n.startswith(".") and ".tmp-" in n] if os.path.isdir(folder) else []


class Harness:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.kills = {"train": 0, "snapshot": 0, "export": 0}
        self.failures = []
        self.resumes = 0
        self.stale_removed = 0

    def train_args(self, run, resume):
        a = self.a
        common = ["--model", a.model, "--task", "sst2", "--data", a.data]
        if resume:
            return [a.binary, "train"] + common + ["--resume", run]
        return [a.binary, "train"] + common + ["--out", run, "--optimizer", a.optimizer, "--steps", str(a.steps),
                                               "--batch-size", str(a.batch_size), "--train-examples", str(a.train_examples),
                                               "--eval-every", str(a.eval_every), "--lr", a.lr, "--seed", "3"] + a.extra

    def run_to_end(self, args):
        p = subprocess.run(args, capture_output=True, text=True, timeout=self.a.timeout)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
        return p

    def kill_at_random(self, args, folder, expected_seconds, watch_snapshots):
        """Starts `args`, SIGKILLs it at a random moment; returns (killed, what was in flight)."""
        deadline = self.rng.uniform(0, expected_seconds * 1.1)
        target_snapshot = watch_snapshots and self.rng.random() < 1 / 3
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        start = time.monotonic()
        what = "train"
        while True:
            if p.poll() is not None:
                err = p.stderr.read()
                if p.returncode != 0:
                    raise SystemExit(f"{' '.join(args)} failed ({p.returncode}) between kills:\n{err[-3000:]}")
                return False, None
            elapsed = time.monotonic() - start
            in_write = bool(temporaries(folder))
            if (target_snapshot and in_write) or (not target_snapshot and elapsed >= deadline) \
                    or elapsed >= expected_seconds * 3:
                what = "snapshot" if in_write else "train"
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
                p.stderr.close()
                return True, what
            time.sleep(0.0005 if target_snapshot else 0.001)

    def check_after_kill(self, run):
        for name in os.listdir(run) if os.path.isdir(run) else []:
            if name.endswith(".safetensors") and not name.startswith("."):
                why = check_snapshot(os.path.join(run, name))
                if why:
                    self.failures.append(f"after a kill, {run}/{name}: {why}")

    def train_round(self, run, reference, expected_seconds):
        resume = False
        while True:
            args = self.train_args(run, resume and os.path.exists(os.path.join(run, "run.json")))
            stale_before = temporaries(run)
            if self.kills["train"] + self.kills["snapshot"] >= self.a.kills - self.a.export_kills:
                self.run_to_end(args)   # the remaining kills are for the export
                killed = False
            else:
                killed, what = self.kill_at_random(args, run, expected_seconds, watch_snapshots=True)
            if args[-2] == "--resume":
                self.resumes += 1
                left = [t for t in stale_before if t in temporaries(run)]
                if left and not killed:
                    self.failures.append(f"{run}: stale temporaries {left} survived a resume")
                self.stale_removed += len(stale_before)
            if not killed:
                break
            self.kills[what] += 1
            self.check_after_kill(run)
            resume = True
        self.compare_runs(run, reference)

    def compare_runs(self, run, reference):
        for name in ["weights-last.safetensors", "weights-best.safetensors", "optimizer-last.safetensors"]:
            a, b = os.path.join(run, name), os.path.join(reference, name)
            if os.path.exists(a) != os.path.exists(b):
                self.failures.append(f"{name}: present in one run only")
            elif os.path.exists(a) and open(a, "rb").read() != open(b, "rb").read():
                self.failures.append(f"{run}/{name} differs from the uninterrupted run's")
        if log_records(run) != log_records(reference):
            self.failures.append(f"{run}/log.jsonl: step records or evaluations differ from the uninterrupted run's")
        if temporaries(run):
            self.failures.append(f"{run}: temporary files left after the run finished: {temporaries(run)}")

    def export_args(self, run, out, force):
        return [self.a.binary, "export", "--model", self.a.model, "--run", run, "--at", "last", "--out", out] + (["--force"] if force else [])

    def export_round(self, run, reference_export, expected_seconds, work):
        out = os.path.join(work, "export")
        shutil.rmtree(out, ignore_errors=True)
        while self.total() < self.a.kills and self.kills["export"] < self.a.export_kills:
            killed, _ = self.kill_at_random(self.export_args(run, out, force=os.path.exists(out)), work, expected_seconds, False)
            if not killed:
                break
            self.kills["export"] += 1
            if os.path.exists(out):   # a killed export leaves the old folder or a whole new one, never a part
                self.compare_exports(out, reference_export)
        self.run_to_end(self.export_args(run, out, force=os.path.exists(out)))
        self.compare_exports(out, reference_export)

    def compare_exports(self, out, reference):
        _, ta, da = safetensors_parts(os.path.join(out, "model.safetensors"))
        _, tb, db = safetensors_parts(os.path.join(reference, "model.safetensors"))
        if ta != tb or da != db:
            self.failures.append(f"{out}/model.safetensors: tensors differ from the uninterrupted export's")
        if sorted(os.listdir(out)) != sorted(os.listdir(reference)):
            self.failures.append(f"{out}: files {sorted(os.listdir(out))} differ from {sorted(os.listdir(reference))}")

    def total(self):
        return sum(self.kills.values())


def tiny_folders(work):
    """The tiny Qwen3 fixture with its byte-level BPE tokenizer, and an SST-2-shaped data folder."""
    shutil.rmtree(work, ignore_errors=True)
    model = os.path.join(work, "model")
    os.makedirs(model)
    for src in ["Tests/Fixtures/tiny-qwen3-bpe/config.json", "Tests/Fixtures/tiny-qwen3-bpe/model.safetensors",
                "Tests/Fixtures/bpe-qwen2/tokenizer.json", "Tests/Fixtures/bpe-qwen2/tokenizer_config.json"]:
        shutil.copy(os.path.join(REPO, src), model)
    data = os.path.join(work, "data")
    os.makedirs(data)
    rows = ["1\ta great movie", "0\tit was terrible and dull", "1\tthe film is a delight", "0\tan awful , boring film",
            "1\ta charming and often affecting journey", "0\tdull", "1\twarm and funny", "0\ttoo long and too slow"]
    with open(os.path.join(data, "train.tsv"), "w") as f:
        f.write("label\tsentence\n" + "\n".join(rows) + "\n")
    with open(os.path.join(data, "dev.tsv"), "w") as f:
        f.write("label\tsentence\n" + "\n".join(rows[:6]) + "\n")
    return model, data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(REPO, ".build/release/zofinetune"))
    ap.add_argument("--model", help="model folder (default: the tiny Qwen3 fixture)")
    ap.add_argument("--data", help="SST-2-format folder (default: 8 tiny sentences)")
    ap.add_argument("--kills", type=int, default=50, help="kills of live processes in all")
    ap.add_argument("--export-kills", type=int, default=None, help="of which at most this many during export (default kills/5)")
    ap.add_argument("--optimizers", default="mezo,adamw", help="rounds alternate between these")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--train-examples", type=int, default=8)
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--lr", default=None, help="default: 1e-3 (mezo) / 1e-3 (adamw) on the tiny model")
    ap.add_argument("--extra", default="", help='more train options in one string, e.g. --extra="--eval-examples 8"')
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--work", help="keep the run folders here")
    a = ap.parse_args()
    a.extra = a.extra.split()
    if a.export_kills is None:
        a.export_kills = max(1, a.kills // 5)
    work = a.work or tempfile.mkdtemp(prefix="zf-kill-")
    os.makedirs(work, exist_ok=True)
    if not a.model or not a.data:
        m, d = tiny_folders(os.path.join(work, "tiny"))
        a.model, a.data = a.model or m, a.data or d
    h = Harness(a)
    rounds = 0
    optimizers = a.optimizers.split(",")
    references = {}
    while h.total() < a.kills or rounds == 0:
        a.optimizer = optimizers[rounds % len(optimizers)]
        a.lr = a.lr or "1e-3"
        if a.optimizer not in references:
            ref = os.path.join(work, f"reference-{a.optimizer}")
            shutil.rmtree(ref, ignore_errors=True)
            t0 = time.monotonic()
            h.run_to_end(h.train_args(ref, False))
            train_seconds = time.monotonic() - t0
            ref_export = os.path.join(work, f"reference-{a.optimizer}-export")
            shutil.rmtree(ref_export, ignore_errors=True)
            t0 = time.monotonic()
            h.run_to_end(h.export_args(ref, ref_export, False))
            references[a.optimizer] = (ref, ref_export, train_seconds, time.monotonic() - t0)
        ref, ref_export, train_seconds, export_seconds = references[a.optimizer]
        run = os.path.join(work, f"round-{rounds}-{a.optimizer}")
        shutil.rmtree(run, ignore_errors=True)
        h.train_round(run, ref, train_seconds)
        h.export_round(run, ref_export, export_seconds, os.path.join(work, f"round-{rounds}-exports"))
        rounds += 1
        if h.failures:
            break
        # A checked round is deleted at once: with a 1 GB model each round holds 3 GB of weights.
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(os.path.join(work, f"round-{rounds - 1}-exports"), ignore_errors=True)
    summary = {"kills": h.total(), "during_train": h.kills["train"], "during_snapshot_write": h.kills["snapshot"],
               "during_export": h.kills["export"], "resumes": h.resumes, "rounds": rounds,
               "stale_temporaries_seen": h.stale_removed, "checksums_checked": HASH is not None,
               "bitwise_equal": not h.failures, "failures": h.failures[:10]}
    print(json.dumps(summary))
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
