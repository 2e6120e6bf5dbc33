"""Conversations for the chat-template tests (tools/fixtures/make_chat_template_cases.py,
tools/reference/reference_chat_ids.py): seeded, so the fixtures and reference dumps are reproducible.
They cover what trips renderers and tokenizers: system prompts or none, one to four exchanges,
empty contents, surrounding whitespace and newlines, non-ASCII (accents, CJK, emoji, RTL),
quotes and braces, and text that looks like template syntax."""
import random

CONTENTS = [
    "Hello!", "What is the capital of France?", "Paris.", "", "   padded with spaces   ",
    "line one\nline two\n\nline four", "Ça va? Très bien, merci.", "日本語のテキストです。", "中文测试：你好，世界！",
    "emoji 😀👍🏽 and ❤️", "مرحبا بالعالم", "Привет, как дела?", "tabs\tand\ttabs", "quotes \"double\" and 'single'",
    "braces {{ not a tag }} {% neither %}", "a\\backslash", "  \n leading newline", "trailing newline\n",
    "The movie was great, I loved it.", "it 's a charming and often affecting journey .", "42", "x" * 40,
    "Let's think step by step: 2 + 2 = 4.", "Ñandú — em dash … ellipsis", "    ", "Ünïcödé wörds ß",
]
SYSTEMS = [None, None, "You are a helpful assistant.", "", "Réponds en français.", "Be brief.\nAnswer in one word.",
           "System with émojis 🤖"]


def conversations(count, seed, alternate=True):
    """`count` conversations (lists of {"role", "content"}), each ending with an assistant turn.
    With `alternate`, turns go user/assistant (Gemma's template refuses anything else)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        messages = []
        system = rng.choice(SYSTEMS)
        if system is not None:
            messages.append({"role": "system", "content": system})
        for _ in range(rng.randint(1, 4)):
            messages.append({"role": "user", "content": rng.choice(CONTENTS)})
            messages.append({"role": "assistant", "content": rng.choice(CONTENTS)})
        out.append(messages)
    return out
