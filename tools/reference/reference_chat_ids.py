#!/usr/bin/env python3
"""Token ids transformers' apply_chat_template gives seeded conversations, for the Swift chat
renderer's agreement test (Tests/TasksTests/ChatTemplateIDsTests.swift).

    python3 tools/reference/reference_chat_ids.py --model models/smollm2-135m-instruct \\
        --out models/reference/chat-smollm2-135m-instruct.json
    python3 tools/reference/reference_chat_ids.py --model models/gemma-3-270m \\
        --template Tests/Fixtures/chat-templates/gemma3-it.jinja --out models/reference/chat-gemma-3-270m.json

Makes 200 conversations (tools/reference/chat_conversations.py: system prompts or none, one to four
exchanges, empty, whitespace-padded and non-ASCII contents) and, for each, the ids of
`apply_chat_template(messages, tokenize=True)` and of
`apply_chat_template(messages[:-1], tokenize=True, add_generation_prompt=True)`. `--template`
renders with that file instead of the folder's own template (Gemma-3-270M is a base model and
carries none; its instruct sibling's template is public). Writes

    {"conversations": [[{"role", "content"}, ...], ...], "ids": [[...], ...],
     "ids_generation_prompt": [[...], ...], "template": "...", "transformers_version": "..."}
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from chat_conversations import conversations  # noqa: E402


def input_ids(result):
    """transformers 5 returns a BatchEncoding from tokenize=True; 4.x a list."""
    return list(result["input_ids"]) if hasattr(result, "keys") else list(result)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--template", help="a chat template file to use instead of the folder's")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import transformers
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if args.template:
        tokenizer.chat_template = open(args.template).read()
    chats = conversations(args.count, seed=26)
    ids, ids_generation = [], []
    for messages in chats:
        ids.append(input_ids(tokenizer.apply_chat_template(messages, tokenize=True)))
        ids_generation.append(input_ids(tokenizer.apply_chat_template(messages[:-1], tokenize=True,
                                                                      add_generation_prompt=True)))
    out = {"conversations": chats, "ids": ids, "ids_generation_prompt": ids_generation,
           "template": tokenizer.chat_template, "transformers_version": transformers.__version__}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".tmp", "w") as f:
        json.dump(out, f, ensure_ascii=False)
    os.replace(args.out + ".tmp", args.out)
    print(f"{len(chats)} conversations x 2 -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
