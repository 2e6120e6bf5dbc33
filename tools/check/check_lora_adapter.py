#!/usr/bin/env python3
"""Do transformers + peft give the SST-2 dev predictions `zofinetune eval` gave for a LoRA or prefix-tuning run?

  zofinetune eval --model BASE --run RUN --task sst2 [--limit N] --predictions-out ours.jsonl
  zofinetune export --model BASE --run RUN --adapter --out ADAPTER      # and/or: --out MERGED
  python3 tools/check/check_lora_adapter.py --base BASE --adapter ADAPTER --predictions ours.jsonl [--data DIR] [--min-agreement 0.995]
  python3 tools/check/check_lora_adapter.py --merged MERGED --predictions ours.jsonl

--adapter: `PeftModel.from_pretrained(base, ADAPTER)` (peft 0.21.2), the folder `export --adapter` wrote
(LoRA, or PREFIX_TUNING: a prefix run has no merged export).
--merged: the plain Hugging Face folder `export` wrote (W + (alpha/r) B A), loaded by transformers alone.
Decoders (Gemma-3, Llama): "<bos>{sentence} It was", prediction = the larger of the " terrible" / " great"
logits at the last token (fp32, eager). Encoders (BERT family): mean-pooled, L2-normalised sentence
embedding against each label description's; prediction = the most similar (the descriptions are
read from --descriptions, default SST-2's).

Prints one JSON object (agreement, accuracy of each side, examples) and exits 1 when the agreement
is below --min-agreement.
"""

import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from reference_real_model import CANDIDATES, TEMPLATE, read_tsv, single_token  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def load(args):
    folder = args.merged or args.base
    with open(os.path.join(folder, "config.json")) as f:
        encoder = json.load(f).get("model_type") in ("bert", "roberta")
    from transformers import AutoModel, AutoModelForCausalLM
    cls = AutoModel if encoder else AutoModelForCausalLM
    model = cls.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").float().eval()
    if args.adapter:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, args.adapter).eval()
    return model, encoder, folder


@torch.no_grad()
def decoder_predictions(model, folder, sentences, batch):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, "tokenizer.model"))
    bos = model.config.bos_token_id
    cand = [single_token(sp, c) for c in CANDIDATES]
    out = []
    for i in range(0, len(sentences), batch):
        prompts = [[bos] + sp.encode(TEMPLATE.format(sentence=s)) for s in sentences[i: i + batch]]
        T = max(len(p) for p in prompts)
        ids = torch.zeros((len(prompts), T), dtype=torch.long)
        mask = torch.zeros((len(prompts), T), dtype=torch.long)
        for b, p in enumerate(prompts):
            ids[b, : len(p)] = torch.tensor(p)
            mask[b, : len(p)] = 1
        logits = model(input_ids=ids, attention_mask=mask).logits
        last = logits[torch.arange(len(prompts)), mask.sum(1) - 1][:, cand]
        out += last.argmax(dim=1).tolist()
    return out


@torch.no_grad()
def encoder_predictions(model, folder, sentences, descriptions, batch):
    from transformers import BertTokenizer
    tok = BertTokenizer.from_pretrained(folder)

    def embed(texts):
        enc = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        h = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        return F.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), p=2, dim=1)

    d = embed(descriptions)
    out = []
    for i in range(0, len(sentences), batch):
        out += (embed(sentences[i: i + batch]) @ d.T).argmax(dim=1).tolist()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", help="the base model folder (with --adapter)")
    ap.add_argument("--adapter", help="a peft adapter folder")
    ap.add_argument("--merged", help="a merged Hugging Face folder (instead of --base/--adapter)")
    ap.add_argument("--predictions", required=True, help="zofinetune eval --predictions-out FILE (JSON lines)")
    ap.add_argument("--data", default=os.environ.get("SST2_DIR", "data/sst2"))
    ap.add_argument("--descriptions", nargs=2, default=["a negative movie review", "a positive movie review"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-agreement", type=float, default=0.995)
    args = ap.parse_args()
    if not (args.merged or (args.base and args.adapter)):
        sys.exit("give --merged DIR, or --base DIR and --adapter DIR")
    torch.set_num_threads(args.threads)

    ours = [json.loads(line) for line in open(args.predictions) if line.strip()]
    ours.sort(key=lambda r: r["index"])
    rows = read_tsv(os.path.join(args.data, "dev.tsv"))[: len(ours)]
    sentences = [s for s, _ in rows]
    model, encoder, folder = load(args)
    theirs = (encoder_predictions(model, folder, sentences, args.descriptions, args.batch) if encoder
              else decoder_predictions(model, folder, sentences, args.batch))
    mine = [int(r["prediction"]) for r in ours]
    gold = [y for _, y in rows]
    agree = sum(a == b for a, b in zip(mine, theirs)) / len(rows)
    result = {"examples": len(rows), "agreement": agree,
              "accuracy_zofinetune": sum(a == g for a, g in zip(mine, gold)) / len(rows),
              "accuracy_transformers": sum(a == g for a, g in zip(theirs, gold)) / len(rows),
              "loaded": "peft adapter" if args.adapter else "merged folder"}
    print(json.dumps(result, sort_keys=True))
    if agree < args.min_agreement:
        sys.exit(1)


if __name__ == "__main__":
    main()
