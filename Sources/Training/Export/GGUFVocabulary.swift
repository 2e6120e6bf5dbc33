import Foundation
import Tasks
import Models
import Tokenizers
import Weights

/// The tokenizer of a model folder as GGUF metadata (`tokenizer.ggml.*`), written the way llama.cpp's
/// converter writes it (conversion/base.py in llama.cpp):
/// - a SentencePiece `tokenizer.model` (Gemma, Llama 2) becomes the "llama" tokenizer model: every
///   piece with its score and type (`_create_vocab_sentencepiece`);
/// - a byte-level BPE `tokenizer.json` (Llama 3, Qwen2/3, SmolLM, GPT-2) becomes "gpt2": the pieces,
///   their types, the merges and the pre-tokenizer's name (`_set_vocab_gpt2`, `get_vocab_base`).
/// Ids past the tokenizer's pieces up to the model's vocab_size are `[PAD<id>]`, unused, as there.
enum GGUFVocabulary {
    /// llama.cpp's token types (`gguf.TokenType`).
    enum TokenType: Int32 { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    static func metadata(modelDirectory dir: String, tokenizer: Tokenizer, config: DecoderConfig) throws -> [(String, GGUFValue)] {
        let tokenizerConfig = readJSON(dir + "/tokenizer_config.json") ?? [:]
        var out: [(String, GGUFValue)]
        if let spm = tokenizer as? SentencePieceTokenizer {
            out = try sentencePiece(spm, rows: config.vocabSize, tokenizerConfig: tokenizerConfig, path: dir + "/tokenizer.model")
            // Gemma's pieces carry their own "▁"; llama.cpp must not add one (Gemma3Model.set_vocab).
            if config.family.sentencePieceHasOwnSpacePrefix { out.append(("tokenizer.ggml.add_space_prefix", .bool(false))) }
        } else if tokenizer is ByteLevelBPETokenizer {
            out = try byteLevelBPE(path: dir + "/tokenizer.json", rows: config.vocabSize)
        } else {
            throw RunError("\(dir): GGUF export writes SentencePiece or byte-level BPE tokenizers; this folder's tokenizer is neither")
        }
        // Special ids as gguf-py's SpecialVocab finds them: config.json's *_token_id, else the tokenizer's.
        let ids: [(String, Int32?)] = [("bos", config.bosTokenID.map(Int32.init) ?? tokenizer.bosID),
                                       ("eos", config.eosTokenID.map(Int32.init) ?? tokenizer.eosID),
                                       ("unknown", tokenizer.unknownID),
                                       ("padding", config.padTokenID.map(Int32.init) ?? tokenizer.padID)]
        for case let (name, id?) in ids { out.append(("tokenizer.ggml.\(name)_token_id", .uint32(UInt32(id)))) }
        // Whether a sequence starts with BOS: what this engine does (our loaders read the same
        // tokenizer_config.json / post-processor), so llama.cpp scores the prompts we trained on.
        let addBOS = (tokenizerConfig["add_bos_token"] as? Bool) ?? (tokenizer.bosID != nil)
        out.append(("tokenizer.ggml.add_bos_token", .bool(addBOS)))
        if let addEOS = tokenizerConfig["add_eos_token"] as? Bool { out.append(("tokenizer.ggml.add_eos_token", .bool(addEOS))) }
        // The chat template where transformers looks: chat_template.jinja, else tokenizer_config.json's.
        let jinja = FileManager.default.contents(atPath: dir + "/" + ModelChatTemplate.jinjaFileName).flatMap { String(data: $0, encoding: .utf8) }
        if let template = jinja ?? tokenizerConfig["chat_template"] as? String { out.append(("tokenizer.chat_template", .string(template))) }
        return out
    }

    /// `_create_vocab_sentencepiece`: pieces, scores and types from the model, then the
    /// added_tokens_decoder of tokenizer_config.json (special → control, else user-defined, score −1000).
    static func sentencePiece(_ spm: SentencePieceTokenizer, rows: Int, tokenizerConfig: [String: Any], path: String) throws -> [(String, GGUFValue)] {
        guard spm.vocabularySize <= rows else {
            throw RunError("\(path) has \(spm.vocabularySize) pieces, the model \(rows) embedding rows")
        }
        var tokens = (0..<rows).map { "[PAD\($0)]" }
        var scores = [Float](repeating: -10000, count: rows)
        var types = [TokenType](repeating: .unused, count: rows)
        for id in 0..<Int32(spm.vocabularySize) {
            guard let piece = spm.piece(for: id) else { throw RunError("\(path): no piece for id \(id)") }
            tokens[Int(id)] = piece
            scores[Int(id)] = spm.score(id)
            types[Int(id)] = spm.isUnknown(id) ? .unknown : spm.isControl(id) ? .control
                : spm.isUnused(id) ? .unused : spm.isByte(id) ? .byte : .normal
        }
        for (key, value) in tokenizerConfig["added_tokens_decoder"] as? [String: Any] ?? [:] {
            guard let id = Int(key), id < rows, let entry = value as? [String: Any], var content = entry["content"] as? String else { continue }
            if (entry["special"] as? Bool) == true || looksSpecial(content) {
                types[id] = .control
            } else {
                content = content.replacingOccurrences(of: "\u{2581}", with: " ")   // pre-normalised user-defined spaces
                types[id] = .userDefined
            }
            scores[id] = -1000
            tokens[id] = content
        }
        return [("tokenizer.ggml.model", .string("llama")), ("tokenizer.ggml.pre", .string("default")),
                ("tokenizer.ggml.tokens", .strings(tokens)), ("tokenizer.ggml.scores", .float32s(scores)),
                ("tokenizer.ggml.token_type", .int32s(types.map(\.rawValue)))]
    }

    /// `get_vocab_base` + `_set_vocab_gpt2`: the vocabulary and added tokens of tokenizer.json by id,
    /// their types, the merges as "a b" strings and the pre-tokenizer's llama.cpp name.
    static func byteLevelBPE(path: String, rows: Int) throws -> [(String, GGUFValue)] {
        guard let json = readJSON(path), let model = json["model"] as? [String: Any],
              let vocab = model["vocab"] as? [String: Int] else {
            throw RunError("\(path): no model.vocab to export")
        }
        var tokens = (0..<rows).map { "[PAD\($0)]" }
        var types = [TokenType](repeating: .unused, count: rows)
        for (piece, id) in vocab {
            guard id < rows else { throw RunError("\(path): token \(piece) has id \(id), past the model's \(rows) embedding rows") }
            tokens[id] = piece
            types[id] = .normal
        }
        for case let added as [String: Any] in json["added_tokens"] as? [Any] ?? [] {
            guard let id = added["id"] as? Int, id < rows, let content = added["content"] as? String else { continue }
            tokens[id] = content
            types[id] = (added["special"] as? Bool) == true || looksSpecial(content) ? .control : .userDefined
        }
        let merges: [String] = try (model["merges"] as? [Any] ?? []).map { merge in
            if let text = merge as? String { return text }
            if let pair = merge as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            throw RunError("\(path): a merge is neither \"a b\" nor [a, b]: \(merge)")
        }
        return [("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(try preTokenizerName(json, path: path))),
                ("tokenizer.ggml.tokens", .strings(tokens)), ("tokenizer.ggml.token_type", .int32s(types.map(\.rawValue))),
                ("tokenizer.ggml.merges", .strings(merges))]
    }

    /// The llama.cpp name of tokenizer.json's pre-tokenizer (a `Sequence` or a single step).
    static func preTokenizerName(_ json: [String: Any], path: String) throws -> String {
        let top = json["pre_tokenizer"] as? [String: Any] ?? [:]
        let steps = top["type"] as? String == "Sequence" ? (top["pretokenizers"] as? [[String: Any]] ?? []) : [top]
        var patterns: [String] = [], digits = false, regex = false
        for step in steps {
            switch step["type"] as? String {
            case "Split": if let p = (step["pattern"] as? [String: Any])?["Regex"] as? String { patterns.append(p) }
            case "Digits": digits = true
            case "ByteLevel": regex = step["use_regex"] as? Bool ?? true
            default: break
            }
        }
        guard let name = LlamaCppPreTokenizerName.name(splitPatterns: patterns, hasDigits: digits, byteLevelUsesRegex: regex) else {
            throw RunError("\(path): llama.cpp knows pre-tokenizers by name, and this one (split patterns \(patterns), "
                           + "digits \(digits)) is none of llama-bpe, qwen2, smollm, gpt-2; export it with llama.cpp's converter")
        }
        return name
    }

    /// `does_token_look_special` in llama.cpp's converter.
    static func looksSpecial(_ token: String) -> Bool {
        ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(token) || (token.hasPrefix("<|") && token.hasSuffix("|>"))
            || (token.hasPrefix("<｜") && token.hasSuffix("｜>")) || (token.hasPrefix("<unused") && token.hasSuffix(">"))
    }

    static func readJSON(_ path: String) -> [String: Any]? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }
}
