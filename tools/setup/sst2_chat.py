#!/usr/bin/env python3
"""SST-2 posed as conversations (docs/chat.md): each review becomes a user turn asking for its
sentiment and an assistant turn answering "positive" or "negative".

    python3 tools/setup/sst2_chat.py --data "$SST2_DIR" --out runs/sst2-chat [--train 2000]

Writes train.jsonl and dev.jsonl (messages JSONL) and chat-task.json ({"objective": "chat",
"max_new_tokens": 3, "metric": "exact_match"}) into --out. SST-2 itself is not in the repository.
"""
import argparse
import csv
import json
import os

QUESTION = "{}\nSentiment?"
# A short system prompt: without one SmolLM2's template adds its own 20-token default to every conversation.
SYSTEM = "Label movie reviews positive or negative."


def rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        for row in reader:
            text = (row.get("sentence") or row.get("content") or row.get("text") or "").strip()
            yield text, row["label"].strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("SST2_DIR", "data/sst2"))
    parser.add_argument("--out", required=True)
    parser.add_argument("--train", type=int, default=2000, help="training reviews kept (the first N)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for split, limit in (("train", args.train), ("dev", None)):
        with open(os.path.join(args.out, f"{split}.jsonl"), "w") as f:
            for i, (text, label) in enumerate(rows(os.path.join(args.data, f"{split}.tsv"))):
                if limit is not None and i >= limit:
                    break
                answer = "positive" if label == "1" else "negative"
                messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION.format(text)}, {"role": "assistant", "content": answer}]
                f.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
    with open(os.path.join(args.out, "chat-task.json"), "w") as f:
        json.dump({"objective": "chat", "max_new_tokens": 3, "metric": "exact_match"}, f, indent=2)
        f.write("\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
