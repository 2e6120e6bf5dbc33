// The parts of a Hugging Face `tokenizer.json` (the tokenizers library's serialisation) and of
// `tokenizer_config.json` (transformers' options) that a byte-level BPE needs, decoded with their
// own key names. Every field is optional so that what is missing or unsupported becomes our own
// error naming the file (ByteLevelBPETokenizer+Loading.swift), not a DecodingError.

import Foundation

/// `tokenizer.json` as written by the tokenizers library (format version 1.0).
struct TokenizerJSON: Decodable {
    var model: ModelSpec?
    var normalizer: NormalizerSpec?
    var pre_tokenizer: PreTokenizerSpec?
    var post_processor: PostProcessorSpec?
    var decoder: DecoderSpec?
    var added_tokens: [AddedTokenSpec]?

    /// `"model"`: the vocabulary and merges (type "BPE"), or another model type we refuse.
    struct ModelSpec: Decodable {
        var type: String?
        var vocab: [String: Int]?
        var merges: [MergeSpec]?
        var unk_token: String?
        var continuing_subword_prefix: String?
        var end_of_word_suffix: String?
        var fuse_unk: Bool?
        var byte_fallback: Bool?
        var ignore_merges: Bool?
        var dropout: Double?

        // WordPiece and Unigram store `vocab` as a list; BPE as an object. Decode it only when it is
        // an object, so a non-BPE file is refused by its type rather than by a decoding error.
        enum CodingKeys: String, CodingKey {
            case type, vocab, merges, unk_token, continuing_subword_prefix, end_of_word_suffix
            case fuse_unk, byte_fallback, ignore_merges, dropout
        }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            type = try c.decodeIfPresent(String.self, forKey: .type)
            vocab = try? c.decodeIfPresent([String: Int].self, forKey: .vocab)
            merges = try? c.decodeIfPresent([MergeSpec].self, forKey: .merges)
            unk_token = try c.decodeIfPresent(String.self, forKey: .unk_token)
            continuing_subword_prefix = try c.decodeIfPresent(String.self, forKey: .continuing_subword_prefix)
            end_of_word_suffix = try c.decodeIfPresent(String.self, forKey: .end_of_word_suffix)
            fuse_unk = try c.decodeIfPresent(Bool.self, forKey: .fuse_unk)
            byte_fallback = try c.decodeIfPresent(Bool.self, forKey: .byte_fallback)
            ignore_merges = try c.decodeIfPresent(Bool.self, forKey: .ignore_merges)
            dropout = try c.decodeIfPresent(Double.self, forKey: .dropout)
        }
    }

    /// One merge: `"Ġ t"` (tokenizers < 0.20, and every GPT-2-era file) or `["Ġ", "t"]` (newer
    /// files, which allow pieces that contain a space).
    struct MergeSpec: Decodable {
        var left: String
        var right: String
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let pair = try? c.decode([String].self) {
                guard pair.count == 2 else {
                    throw DecodingError.dataCorruptedError(in: c, debugDescription: "a merge has \(pair.count) parts, expected 2")
                }
                left = pair[0]; right = pair[1]
            } else {
                let text = try c.decode(String.self)
                // Split at the first space: byte-level pieces never contain one (it is "Ġ").
                guard let space = text.firstIndex(of: " ") else {
                    throw DecodingError.dataCorruptedError(in: c, debugDescription: "merge \"\(text)\" has no space")
                }
                left = String(text[..<space]); right = String(text[text.index(after: space)...])
            }
        }
    }

    struct NormalizerSpec: Decodable {
        var type: String?
        var normalizers: [NormalizerSpec]?
    }

    struct PreTokenizerSpec: Decodable {
        var type: String?
        var add_prefix_space: Bool?
        var use_regex: Bool?
        var pattern: PatternSpec?
        var behavior: String?
        var invert: Bool?
        var individual_digits: Bool?
        var pretokenizers: [PreTokenizerSpec]?
    }

    /// A Split pattern: `{"Regex": "..."}` or `{"String": "..."}` (a literal).
    struct PatternSpec: Decodable {
        var regex: String?
        var literal: String?
        enum CodingKeys: String, CodingKey { case regex = "Regex", literal = "String" }
    }

    struct PostProcessorSpec: Decodable {
        var type: String?
        var single: [TemplatePiece]?
        var processors: [PostProcessorSpec]?
        var cls: IDPair?
        var sep: IDPair?
    }

    /// One entry of a TemplateProcessing template: `{"SpecialToken": {"id": "<s>"}}` or `{"Sequence": {"id": "A"}}`.
    struct TemplatePiece: Decodable {
        struct Named: Decodable { var id: String }
        var specialToken: Named?
        var sequence: Named?
        enum CodingKeys: String, CodingKey { case specialToken = "SpecialToken", sequence = "Sequence" }
    }

    /// `["<s>", 0]` as BertProcessing/RobertaProcessing store cls and sep.
    struct IDPair: Decodable {
        var token: String
        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            token = try c.decode(String.self)
        }
    }

    struct DecoderSpec: Decodable {
        var type: String?
        var decoders: [DecoderSpec]?
    }

    struct AddedTokenSpec: Decodable {
        var id: Int
        var content: String
        var single_word: Bool?
        var lstrip: Bool?
        var rstrip: Bool?
        var normalized: Bool?
        var special: Bool?
    }
}

/// The options of `tokenizer_config.json` that decide BOS/EOS/padding.
struct TokenizerConfigJSON: Decodable {
    var add_bos_token: Bool?
    var add_eos_token: Bool?
    var bos_token: TokenName?
    var eos_token: TokenName?
    var pad_token: TokenName?
    var unk_token: TokenName?

    /// A token given as its text or as `{"content": "...", ...}` (older transformers), or null.
    struct TokenName: Decodable {
        var content: String?
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() {
                content = nil
            } else if let text = try? c.decode(String.self) {
                content = text
            } else {
                struct Object: Decodable { var content: String? }
                content = try c.decode(Object.self).content
            }
        }
    }
}
