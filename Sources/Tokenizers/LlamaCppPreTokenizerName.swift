/// llama.cpp names a byte-level BPE pre-tokenizer (`tokenizer.ggml.pre` in a GGUF file) instead of
/// storing its regular expressions; its converter recognises the pre-tokenizer by hashing a test
/// tokenisation (`get_vocab_base_pre` in llama.cpp's conversion/base.py). We recognise the same
/// families from tokenizer.json's pre-tokenizer steps instead: the split patterns we match exactly
/// (SplitPatternScanner) and SmolLM's `Digits` + `ByteLevel`.
public enum LlamaCppPreTokenizerName {
    /// The llama.cpp name for a pre-tokenizer made of `Split` steps with these patterns, whether
    /// it has a `Digits` step, and whether its `ByteLevel` step splits with GPT-2's pattern;
    /// nil when llama.cpp would not know it by one of these names.
    public static func name(splitPatterns: [String], hasDigits: Bool, byteLevelUsesRegex: Bool) -> String? {
        switch (splitPatterns, hasDigits, byteLevelUsesRegex) {
        case ([SplitPatternScanner.llama3Pattern], false, false): return "llama-bpe"
        case ([SplitPatternScanner.qwen2Pattern], false, false): return "qwen2"
        case ([], true, true): return "smollm"
        case ([], false, true), ([gpt2SplitPattern], false, false): return "gpt-2"
        default: return nil
        }
    }
}
