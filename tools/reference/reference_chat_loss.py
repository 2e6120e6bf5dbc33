#!/usr/bin/env python3
"""The chat loss and its gradient on a tiny model, as transformers masks it, for
Tests/TrainingTests/ChatLossGradientTests.swift.

    python3 tools/reference/reference_chat_loss.py      # writes Tests/Fixtures/tiny-chat/
    python3 tools/reference/reference_chat_loss.py models/smollm2-135m-instruct models/reference/chat-smollm2-135m-instruct-loss.safetensors

The model is Tests/Fixtures/tiny-qwen3-bpe (tiny random Qwen3) with the bpe-qwen2 vocabulary,
whose added tokens include <|im_start|> and <|im_end|>; the chat template is ChatML with
transformers' own `{% generation %}` markers around each assistant answer
(Tests/Fixtures/chat-templates/chatml-generation.jinja), so the labels come from transformers'
`apply_chat_template(…, return_assistant_tokens_mask=True)`: ids where the assistant mask is 1,
-100 elsewhere. "final": only the last answer's run of 1s; "all": every answer. The loss is
transformers' `labels=` loss over the whole batch: the mean cross-entropy over every labelled
token (each conversation run alone, their summed losses divided by the total labelled tokens,
which is the same mean as one padded batch). Writes conversations.jsonl (6 conversations of
tools/reference/chat_conversations.py, seed 7), ids.jsonl and ids-generation-prompt.jsonl (apply_chat_template's
ids of each conversation, and of it without its final answer with the generation prompt: what
`zofinetune tokenize --chat … --json` prints) and reference.safetensors:

  <mode>.loss      (1,)   the loss                       mode: final, all
  <mode>.ids_<k>   (n_k,) conversation k's ids (F32), through its last labelled token
  <mode>.labels_<k> (n_k,) its labels (-100 where masked)
  <mode>.grad.<name>     every parameter's gradient (the tied embedding included; the model is tiny)
"""
import json
import os
import shutil
import sys
import tempfile

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_conversations import conversations  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures")


def main():
    torch.set_num_threads(1)
    out = os.path.join(ROOT, "tiny-chat")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        for source, file in [("tiny-qwen3-bpe", "config.json"), ("tiny-qwen3-bpe", "model.safetensors"),
                             ("bpe-qwen2", "tokenizer.json"), ("bpe-qwen2", "tokenizer_config.json"),
                             ("chat-templates", "chatml-generation.jinja")]:
            shutil.copyfile(os.path.join(ROOT, source, file),
                            os.path.join(folder, "chat_template.jinja" if file.endswith(".jinja") else file))
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
        chats = conversations(6, seed=7)
        with open(os.path.join(out, "conversations.jsonl"), "w") as f:
            for messages in chats:
                f.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
        # What `tokenize --chat [--add-generation-prompt] --json` must print, line for line.
        for name, generation in (("ids.jsonl", False), ("ids-generation-prompt.jsonl", True)):
            with open(os.path.join(out, name), "w") as f:
                for messages in chats:
                    shown = messages[:-1] if generation else messages
                    ids = tokenizer.apply_chat_template(shown, tokenize=True, add_generation_prompt=generation, return_dict=True)
                    f.write(json.dumps({"ids": list(ids["input_ids"])}, separators=(",", ":")) + "\n")
        tensors = {}
        for mode in ("final", "all"):
            model.zero_grad()
            rows = []
            for messages in chats:
                encoded = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                                        return_assistant_tokens_mask=True)
                ids, mask = list(encoded["input_ids"]), list(encoded["assistant_masks"])
                if mode == "final":
                    last = max(i for i, m in enumerate(mask) if m)
                    first = last
                    while first > 0 and mask[first - 1]:
                        first -= 1
                    mask = [1 if first <= i <= last else 0 for i in range(len(mask))]
                end = max(i for i, m in enumerate(mask) if m) + 1
                ids, mask = ids[:end], mask[:end]
                labels = [t if m else -100 for t, m in zip(ids, mask)]
                rows.append((ids, labels))
            # Shifted as transformers shifts: position t predicts token t+1, so the first token is never labelled.
            total_tokens = sum(sum(1 for l in labels[1:] if l != -100) for _, labels in rows)
            total = 0.0
            for k, (ids, labels) in enumerate(rows):
                result = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
                count = sum(1 for l in labels[1:] if l != -100)
                (result.loss * count / total_tokens).backward()
                total += result.loss.item() * count
                tensors[f"{mode}.ids_{k}"] = torch.tensor(ids, dtype=torch.float32)
                tensors[f"{mode}.labels_{k}"] = torch.tensor(labels, dtype=torch.float32)
            tensors[f"{mode}.loss"] = torch.tensor([total / total_tokens], dtype=torch.float32)
            for name, p in model.named_parameters():
                tensors[f"{mode}.grad.{name}"] = p.grad.detach().float().clone().contiguous()
            print(f"{mode}: loss {total / total_tokens:.6f} over {total_tokens} answer tokens", file=sys.stderr)
    save_file(tensors, os.path.join(out, "reference.safetensors"))
    print(f"-> {out}", file=sys.stderr)


def real(model_dir, out_path):
    """The same check on a real instruct model (SmolLM2-135M-Instruct): 4 conversations with a
    system prompt, whose ChatML rendering by the folder's template equals chatml-generation.jinja's,
    so transformers' assistant mask gives the labels (every answer). Writes out_path with
    loss, ids_<k>/labels_<k>, the gradient of every tensor of layers 0 and last and of the final
    norm in full, and the L2 norm of every gradient tensor (norm.<name>)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    own = tokenizer.chat_template
    marked = open(os.path.join(ROOT, "chat-templates", "chatml-generation.jinja")).read()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    # Llama's embedding is nn.Embedding(padding_idx=pad_token_id): PyTorch then leaves the lookup's
    # gradient of that row at zero, and SmolLM2's pad is <|im_end|> (2), in every conversation. The
    # loss's gradient is what is wanted (and what an optimizer should follow), so no padding row.
    model.get_input_embeddings().padding_idx = None
    chats = [c if c[0]["role"] == "system" else [{"role": "system", "content": "Be brief."}] + c
             for c in conversations(4, seed=11)]
    rows = []
    for messages in chats:
        text = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=own)
        assert text == tokenizer.apply_chat_template(messages, tokenize=False, chat_template=marked), "renderings differ"
        encoded = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, chat_template=marked,
                                                return_assistant_tokens_mask=True)
        ids, mask = list(encoded["input_ids"]), list(encoded["assistant_masks"])
        end = max(i for i, m in enumerate(mask) if m) + 1
        rows.append((ids[:end], [t if m else -100 for t, m in zip(ids[:end], mask[:end])]))
    total_tokens = sum(sum(1 for l in labels[1:] if l != -100) for _, labels in rows)
    tensors, total = {}, 0.0
    for k, (ids, labels) in enumerate(rows):
        result = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
        count = sum(1 for l in labels[1:] if l != -100)
        (result.loss * count / total_tokens).backward()
        total += result.loss.item() * count
        tensors[f"ids_{k}"] = torch.tensor(ids, dtype=torch.float32)
        tensors[f"labels_{k}"] = torch.tensor(labels, dtype=torch.float32)
    tensors["loss"] = torch.tensor([total / total_tokens], dtype=torch.float32)
    last = model.config.num_hidden_layers - 1
    for name, p in model.named_parameters():
        tensors[f"norm.{name}"] = p.grad.double().norm().float().reshape(1)
        if name.startswith(("model.layers.0.", f"model.layers.{last}.", "model.norm")):
            tensors[f"grad.{name}"] = p.grad.detach().float().clone().contiguous()
    save_file(tensors, out_path, metadata={"conversations": json.dumps(chats, ensure_ascii=False)})
    print(f"{model_dir}: loss {total / total_tokens:.6f} over {total_tokens} answer tokens -> {out_path}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 3:   # reference_chat_loss.py MODEL_DIR OUT.safetensors: the real-model check
        torch.set_num_threads(2)
        real(sys.argv[1], sys.argv[2])
    else:
        main()
