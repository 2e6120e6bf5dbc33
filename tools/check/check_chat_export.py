#!/usr/bin/env python3
"""Checks that an exported model keeps its base folder's chat template (docs/chat.md), read the way
other tools read it: transformers' AutoTokenizer for an HF folder, the gguf package's reader for
a GGUF file (`tokenizer.chat_template`), and that the exported folder's template renders a
conversation to the same ids as the base folder's.

    python3 tools/check/check_chat_export.py --base models/smollm2-135m-instruct --hf exported/ --gguf exported.gguf
"""
import argparse
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True)
    parser.add_argument("--hf")
    parser.add_argument("--gguf")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    base = AutoTokenizer.from_pretrained(args.base)
    template = base.chat_template
    assert template, f"{args.base} has no chat template"
    messages = [{"role": "user", "content": "Ça va? 😀"}, {"role": "assistant", "content": "positive"}]
    ok = True
    if args.hf:
        exported = AutoTokenizer.from_pretrained(args.hf)
        same = exported.chat_template == template
        ids_same = exported.apply_chat_template(messages, tokenize=True)["input_ids"] == \
            base.apply_chat_template(messages, tokenize=True)["input_ids"]
        print(f"{args.hf}: chat template {'equal' if same else 'DIFFERENT'}; rendered ids {'equal' if ids_same else 'DIFFERENT'}")
        ok &= same and ids_same
    if args.gguf:
        from gguf import GGUFReader
        field = GGUFReader(args.gguf).fields.get("tokenizer.chat_template")
        stored = bytes(field.parts[field.data[0]]).decode() if field else None
        same = stored == template
        print(f"{args.gguf}: tokenizer.chat_template {'equal' if same else 'DIFFERENT' if stored else 'MISSING'}")
        ok &= same
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
