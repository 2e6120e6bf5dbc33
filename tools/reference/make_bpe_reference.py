#!/usr/bin/env python3
"""Byte-level BPE vocabularies for the three tokenizer.json families, and transformers' ids for them.

    # once, by a developer (the result is committed under Tests/Fixtures/bpe-<family>/):
    python3 tools/reference/make_bpe_reference.py train --data "$SST2_DIR"
    # by tools/test.sh (SST-2 text must not be committed, so these ids live in models/reference/):
    python3 tools/reference/make_bpe_reference.py reference --data "$SST2_DIR" --out models/reference

No Qwen2 / Llama 3 / GPT-2 tokenizer can be downloaded here, so the Swift tokenizer is checked the
way the tokenizers library checks itself: on vocabularies made for the test, one per pre-tokenizer
family, each trained with the `tokenizers` package on SST-2 train text and saved through
transformers' `PreTrainedTokenizerFast.save_pretrained` (tokenizer.json + tokenizer_config.json):

| family | normalizer | pre-tokenizer | post-processor | special tokens |
|---|---|---|---|---|
| gpt2   | none | ByteLevel(add_prefix_space=False, use_regex=True) | ByteLevel | <|endoftext|> |
| llama3 | none | Sequence[Split(Llama-3 regex, Isolated), ByteLevel(use_regex=False)] | Sequence[ByteLevel, TemplateProcessing (<|begin_of_text|> $A)]; ignore_merges | <|begin_of_text|>, <|end_of_text|> |
| qwen2  | NFC  | Sequence[Split(Qwen2 regex, Isolated), ByteLevel(use_regex=False)] | ByteLevel | <|endoftext|>, <|im_start|>, <|im_end|> |
| smollm | none | Sequence[Digits(individual_digits=True), ByteLevel(use_regex=True)] (vocab 1,000) | ByteLevel | <|endoftext|>, <|im_start|>, <|im_end|> |

`train` also writes `adversarial.json` into each fixture folder: the ids transformers gives a fixed
set of hard strings (emoji, CJK, combining marks, runs of spaces/newlines/tabs, digit runs,
contractions, the special-token strings inside text, the empty string, leading spaces) plus the
ids of "" with add_special_tokens=True (what the post-processor adds). These do not depend on
SST-2 text, so they are committed.

`train` also writes Tests/Fixtures/bpe-edge/ (see build_edge): a hand-made vocabulary for the options
the trained ones leave unexercised, with its own adversarial.json.

`reference` tokenises SST-2 dev and the first 5,000 train sentences with each committed fixture
(`PreTrainedTokenizerFast.from_pretrained`, add_special_tokens=False) and writes
`<out>/bpe-<family>-sst2-token-ids.json` in the format of tools/reference/reference_token_ids.py, plus the
seconds the `tokenizers` library took for SST-2 dev (for tools/bench/bench_bpe_tokenizer.py's comparison).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_token_ids import log, read_comparison_set, read_sentences  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures")
FAMILIES = ("gpt2", "llama3", "qwen2", "smollm")
VOCAB_SIZES = {"smollm": 1000}  # the others VOCAB_SIZE (only their label words must be single tokens)
VOCAB_SIZE = 3500  # small enough that each tokenizer.json stays ~220 KB; large enough for " terrible" to be one token

# The split patterns exactly as the published tokenizer.json files carry them.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

SPECIALS = {
    "gpt2": ["<|endoftext|>"],
    "llama3": ["<|begin_of_text|>", "<|end_of_text|>"],
    "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    "smollm": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
}

ADVERSARIAL = [
    "",
    " ",
    "  leading spaces",
    "trailing spaces   ",
    "a  b   c    d",
    "line one\nline two\n\nline four\r\nCRLF",
    "\n\n\n",
    "tabs\tand\t\tmore tabs \t mixed",
    "digits 1234567 and 3.14159 and 2,000,000 and 007",
    "It's great, isn't it? They're here, we've seen, I'm sure, you'll see, he'd go. IT'S LOUD",
    "emoji 😀👍🏽 family 👨‍👩‍👧 flag 🇫🇷 and ❤️",
    "CJK 中文字符测试 日本語のテキスト 한국어 텍스트",
    "combining: e\u0301 vs \u00e9, n\u0303, A\u030a, decomposed Cafe\u0301",
    "Ａｂｃ full-width ｆｏｏ １２３ and ligature ﬁ",
    "quotes “curly” ‘single’ — dashes – and … ellipsis",
    "<|endoftext|>",
    "before<|endoftext|>after",
    "text <|begin_of_text|> middle <|end_of_text|> end",
    "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|> spaced <|im_end|>",
    "almost special <|endoftext| and <|im_start",
    "punctuation!!! ??? ... ;;; --- ((()))",
    "mixed123abc 4x4 x86_64 v1.2.3",
    "URL https://example.com/a?b=c&d=e#f and email a.b@c.de",
    "über naïve façade résumé Ångström",
    "Ελληνικά кириллица עברית العربية हिन्दी",
    "zero\u200bwidth\u200djoiner and nbsp\u00a0here",
    "\u0085next line\u000bvertical tab\u000cform feed",
    "a" * 300,
    "   \n  \t  ",
    "'s 't 're 've 'm 'll 'd at the start",
    "the movie was great",
    " great",
    " terrible",
]


# bpe-edge: a hand-made vocabulary for what the trained ones never exercise: ignore_merges deciding
# ("Ġabc" is a token, but merging gives Ġ + a + bc), ByteLevel(add_prefix_space=True) applied to every
# segment between added tokens, an lstrip special token, a single_word + rstrip token, a normalized
# added token containing a space, NFC inside a Sequence normalizer, and BOS from add_bos_token.
EDGE_TEXTS = [
    "abc", "xabc abc", "abcabc bcbc", "a <mask> b", "a  <mask>b", "<mask>", "a[X] b", "a [X]  b", "[X]", "x [X]",
    "[X]x", "say hello world now", "hello world", "hello  world", "<s>abc", "abc<s>", "", " ", "  lead", "tail  ",
    "e\u0301 \u00e9", "\n\nabc\n", "ab'c's 12345",
]


def build_edge() -> None:
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for piece in ["bc", "ab", "abc", "Ġabc"]:
        vocab[piece] = len(vocab)
    merges = [("b", "c"), ("a", "b"), ("ab", "c")]  # never makes "Ġabc": only ignore_merges finds it
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC()])
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken("<s>", special=True), AddedToken("<mask>", lstrip=True, special=True)])
    tokenizer.add_tokens([AddedToken("[X]", single_word=True, rstrip=True), AddedToken("hello world", normalized=True)])
    # transformers 5 turns add_bos_token into a TemplateProcessing post-processor ("<s> $A").
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", add_bos_token=True,
                                   clean_up_tokenization_spaces=False)
    folder = os.path.join(FIXTURES, "bpe-edge")
    os.makedirs(folder, exist_ok=True)
    fast.save_pretrained(folder)
    for extra in ("special_tokens_map.json", "chat_template.jinja"):
        if os.path.exists(os.path.join(folder, extra)):
            os.remove(os.path.join(folder, extra))
    write_adversarial("edge", folder, EDGE_TEXTS)
    log(f"edge: vocab {tokenizer.get_vocab_size()} -> {folder}")


def build_tokenizer(family: str):
    """A fresh, untrained tokenizers.Tokenizer with the family's pipeline."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    tokenizer = Tokenizer(models.BPE(ignore_merges=(family == "llama3")))
    if family == "gpt2":
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    elif family == "smollm":
        # SmolLM / StarCoder: every digit its own word, then GPT-2's ByteLevel.
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
    else:
        pattern = LLAMA3_PATTERN if family == "llama3" else QWEN2_PATTERN
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    if family == "qwen2":
        tokenizer.normalizer = normalizers.NFC()
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def train(data_dir: str) -> None:
    from tokenizers import pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = read_sentences(os.path.join(data_dir, "train.tsv"))
    for family in FAMILIES:
        started = time.time()
        tokenizer = build_tokenizer(family)
        trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZES.get(family, VOCAB_SIZE), special_tokens=SPECIALS[family],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tokenizer.train_from_iterator(texts, trainer=trainer)
        if family == "llama3":
            bos = "<|begin_of_text|>"
            # As Meta's tokenizer.json: Sequence[ByteLevel, TemplateProcessing("<|begin_of_text|> $A")].
            tokenizer.post_processor = processors.Sequence([
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                              special_tokens=[(bos, tokenizer.token_to_id(bos))]),
            ])
            names = dict(bos_token=bos, eos_token="<|end_of_text|>")
        else:
            tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
            names = dict(eos_token="<|endoftext|>") if family == "gpt2" else dict(eos_token="<|im_end|>", pad_token="<|endoftext|>")
            if family == "smollm":
                names = dict(bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>")
            if family == "gpt2":
                names["bos_token"] = "<|endoftext|>"  # as GPT-2's own config: declared, never added
        fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, clean_up_tokenization_spaces=False, **names)
        folder = os.path.join(FIXTURES, f"bpe-{family}")
        os.makedirs(folder, exist_ok=True)
        fast.save_pretrained(folder)
        for extra in ("special_tokens_map.json", "chat_template.jinja"):
            path = os.path.join(folder, extra)
            if os.path.exists(path):
                os.remove(path)
        write_adversarial(family, folder, ADVERSARIAL)
        size = os.path.getsize(os.path.join(folder, "tokenizer.json"))
        log(f"{family}: {len(texts)} sentences, vocab {tokenizer.get_vocab_size()}, tokenizer.json {size / 1e3:.0f} KB "
            f"in {time.time() - started:.1f} s")
    build_edge()


def load(folder: str):
    from transformers import PreTrainedTokenizerFast
    return PreTrainedTokenizerFast.from_pretrained(folder)


def encode(tokenizer, texts: list[str]) -> list[list[int]]:
    return [list(map(int, ids)) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def write_adversarial(family: str, folder: str, texts: list[str]) -> None:
    import transformers
    tokenizer = load(folder)
    out = {
        "text": texts,
        "ids": encode(tokenizer, texts),
        "empty_with_special_tokens": list(map(int, tokenizer("", add_special_tokens=True)["input_ids"])),
        "decoded": [tokenizer.decode(ids) for ids in encode(tokenizer, texts)],
        "transformers_version": transformers.__version__,
        "tokenizer_class": type(tokenizer).__name__,
    }
    with open(os.path.join(folder, "adversarial.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)


def reference(data_dir: str, out_dir: str) -> None:
    import transformers

    dev, train_text = read_comparison_set(data_dir)
    os.makedirs(out_dir, exist_ok=True)
    for family in FAMILIES:
        tokenizer = load(os.path.join(FIXTURES, f"bpe-{family}"))
        started = time.perf_counter()
        backend = tokenizer.backend_tokenizer
        backend.encode_batch(dev, add_special_tokens=False)
        batch_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for text in dev:
            backend.encode(text, add_special_tokens=False)
        single_seconds = time.perf_counter() - started
        out = {
            "dev": encode(tokenizer, dev),
            "train": encode(tokenizer, train_text),
            "dev_text": dev,
            "train_text": train_text,
            "transformers_version": transformers.__version__,
            "tokenizer_class": type(tokenizer).__name__,
            "tokenizers_dev_seconds_batch": batch_seconds,
            "tokenizers_dev_seconds_one_by_one": single_seconds,
        }
        path = os.path.join(out_dir, f"bpe-{family}-sst2-token-ids.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        os.replace(path + ".tmp", path)
        log(f"{family}: wrote {path}; tokenizers on SST-2 dev: {batch_seconds * 1e3:.1f} ms batch, "
            f"{single_seconds * 1e3:.1f} ms one by one")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["train", "reference"])
    ap.add_argument("--data", required=True, help="SST-2 folder with dev.tsv and train.tsv")
    ap.add_argument("--out", default="models/reference", help="reference mode: folder for the id dumps")
    args = ap.parse_args()
    if args.mode == "train":
        train(args.data)
    else:
        reference(args.data, args.out)


if __name__ == "__main__":
    main()
