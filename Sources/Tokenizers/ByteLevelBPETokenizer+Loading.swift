// Reading a byte-level BPE tokenizer.json (+ tokenizer_config.json): every part the engine does not
// implement is refused with a TokenizerError that names the file and what it found, never guessed.

import Foundation

extension ByteLevelBPETokenizer {
    /// Loads `tokenizer.json` (and `tokenizer_config.json` beside it, when present, for BOS/EOS/padding).
    ///
    /// Throws `TokenizerError` naming the file when it is missing, not JSON, not a BPE model, not
    /// byte-level, or uses a normaliser / pre-tokenizer / decoder this tokenizer does not implement.
    public convenience init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError(kind: .modelNotFound, path: path, message: "\(path): cannot read tokenizer.json")
        }
        func invalid(_ why: String) -> TokenizerError { TokenizerError(kind: .invalidModel, path: path, message: "\(path): \(why)") }
        func unsupported(_ why: String) -> TokenizerError { TokenizerError(kind: .unsupported, path: path, message: "\(path): \(why)") }
        let json: TokenizerJSON
        do {
            json = try JSONDecoder().decode(TokenizerJSON.self, from: data)
        } catch {
            throw invalid("not a tokenizer.json (\(Self.describe(error)))")
        }
        guard let model = json.model else { throw invalid("no \"model\" entry") }
        guard let type = model.type, type == "BPE" else {
            throw unsupported("model type \"\(model.type ?? "none")\" is not supported (only byte-level BPE tokenizer.json is read; WordPiece folders load from vocab.txt, SentencePiece ones from tokenizer.model)")
        }
        guard let vocabulary = model.vocab else { throw invalid("the BPE model has no \"vocab\" object") }
        guard let merges = model.merges else { throw invalid("the BPE model has no readable \"merges\" list") }
        if let prefix = model.continuing_subword_prefix, !prefix.isEmpty {
            throw unsupported("continuing_subword_prefix \"\(prefix)\" is not supported (byte-level BPE uses none)")
        }
        if let suffix = model.end_of_word_suffix, !suffix.isEmpty {
            throw unsupported("end_of_word_suffix \"\(suffix)\" is not supported (byte-level BPE uses none)")
        }
        if model.byte_fallback == true {
            throw unsupported("byte_fallback is not supported (a SentencePiece-style BPE; load its tokenizer.model instead)")
        }
        if let dropout = model.dropout, dropout > 0 {
            throw unsupported("BPE dropout \(dropout) is not supported (it makes encoding random)")
        }

        let normalizers = try Self.normalizers(json.normalizer, unsupported: unsupported)
        guard let preSpec = json.pre_tokenizer else {
            throw unsupported("no pre_tokenizer: not a byte-level BPE (expected ByteLevel, or a Sequence with Split and ByteLevel)")
        }
        let steps = try Self.preTokenizerSteps(preSpec, invalid: invalid, unsupported: unsupported)
        guard steps.contains(where: { if case .byteLevel = $0 { return true } else { return false } }) else {
            throw unsupported("the pre_tokenizer has no ByteLevel step: not a byte-level BPE")
        }
        try Self.checkDecoder(json.decoder, unsupported: unsupported)

        var vocabularyIDs: [String: Int32] = [:]
        vocabularyIDs.reserveCapacity(vocabulary.count)
        for (piece, id) in vocabulary {
            guard id >= 0, id < Int(Int32.max) else { throw invalid("vocabulary id \(id) of \"\(piece)\" out of range") }
            vocabularyIDs[piece] = Int32(id)
        }
        let added = try (json.added_tokens ?? []).map { spec -> AddedToken in
            guard spec.id >= 0, spec.id < Int(Int32.max) else {
                throw invalid("added token \"\(spec.content)\" has id \(spec.id), out of range")
            }
            return AddedToken(id: Int32(spec.id), content: spec.content, singleWord: spec.single_word ?? false,
                              lstrip: spec.lstrip ?? false, rstrip: spec.rstrip ?? false,
                              normalized: spec.normalized ?? !(spec.special ?? false), special: spec.special ?? false)
        }
        // Ids index a table of pieces: a broken file with one huge id must not allocate gigabytes.
        let largestID = max(vocabularyIDs.values.max() ?? 0, added.map(\.id).max() ?? 0)
        guard Int(largestID) < 2 * (vocabularyIDs.count + added.count) + 1024 else {
            throw invalid("id \(largestID) is far beyond the \(vocabularyIDs.count + added.count) tokens the file defines")
        }
        let unknownID = try model.unk_token.map { name -> Int32 in
            guard let id = vocabularyIDs[name] ?? added.first(where: { $0.content == name })?.id else {
                throw invalid("unk_token \"\(name)\" is not in the vocabulary")
            }
            return id
        }
        let bpe: BytePairEncoding
        do {
            bpe = try BytePairEncoding(vocabulary: vocabularyIDs, merges: merges.map { ($0.left, $0.right) },
                                       ignoreMerges: model.ignore_merges ?? false, unknownID: unknownID,
                                       fuseUnknown: model.fuse_unk ?? false)
        } catch let error as BPEModelError {
            throw invalid(error.message)
        }

        // BOS / EOS / padding: tokenizer_config.json, then the post-processor.
        let configPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("tokenizer_config.json").path
        let config = try Self.readConfig(configPath)
        func idOf(_ name: String?, _ key: String) throws -> Int32? {
            guard let name else { return nil }
            guard let id = added.first(where: { $0.content == name })?.id ?? vocabularyIDs[name] else {
                throw TokenizerError(kind: .invalidModel, path: configPath,
                                     message: "\(configPath): \(key) \"\(name)\" is not a token of \(path)")
            }
            return id
        }
        let template = try Self.templateBOS(json.post_processor, unsupported: unsupported)
        let bos: Int32?
        if let addBOS = config?.add_bos_token {
            bos = addBOS ? try idOf(config?.bos_token?.content, "bos_token") : nil
        } else {
            bos = try template.map { try idOf($0, "post_processor's first special token") } ?? nil
        }
        self.init(path: path, model: bpe, normalizers: normalizers, preTokenizer: ByteLevelPreTokenizer(steps: steps),
                  addedTokens: added, bosID: bos, eosID: try idOf(config?.eos_token?.content, "eos_token"),
                  padID: try idOf(config?.pad_token?.content, "pad_token"))
    }

    private static func normalizers(_ spec: TokenizerJSON.NormalizerSpec?,
                                    unsupported: (String) -> TokenizerError) throws -> [TextNormalizer] {
        guard let spec else { return [] }
        switch spec.type {
        case "NFC": return [.nfc]
        case "Sequence": return try (spec.normalizers ?? []).flatMap { try normalizers($0, unsupported: unsupported) }
        default:
            throw unsupported("normalizer \"\(spec.type ?? "?")\" is not supported (supported: NFC, Sequence of NFC, none)")
        }
    }

    private static func preTokenizerSteps(_ spec: TokenizerJSON.PreTokenizerSpec, invalid: (String) -> TokenizerError,
                                          unsupported: (String) -> TokenizerError) throws -> [PreTokenizerStep] {
        switch spec.type {
        case "Sequence":
            return try (spec.pretokenizers ?? []).flatMap { try preTokenizerSteps($0, invalid: invalid, unsupported: unsupported) }
        case "ByteLevel":
            let splitter = (spec.use_regex ?? true) ? try RegexSplitter(pattern: gpt2SplitPattern) : nil
            return [.byteLevel(addPrefixSpace: spec.add_prefix_space ?? true, splitter: splitter)]
        case "Split":
            guard (spec.behavior ?? "Isolated") == "Isolated", spec.invert != true else {
                throw unsupported("Split with behavior \"\(spec.behavior ?? "?")\" and invert \(spec.invert ?? false) is not supported (only Isolated, invert false, as Llama 3 and Qwen2 use)")
            }
            guard let pattern = spec.pattern, let source = pattern.regex ?? pattern.literal else {
                throw invalid("a Split pre-tokenizer has no pattern")
            }
            do {
                return [.split(try RegexSplitter(pattern: source, literal: pattern.regex == nil))]
            } catch {
                throw unsupported("Split pattern \(source) does not compile as an ICU regular expression: \(error)")
            }
        case "Digits":
            return [.digits(individually: spec.individual_digits ?? false)]
        default:
            throw unsupported("pre_tokenizer \"\(spec.type ?? "?")\" is not supported (supported: ByteLevel, Split, Digits, Sequence)")
        }
    }

    private static func checkDecoder(_ spec: TokenizerJSON.DecoderSpec?, unsupported: (String) -> TokenizerError) throws {
        guard let spec else { return }
        switch spec.type {
        case "ByteLevel": return
        case "Sequence": for inner in spec.decoders ?? [] { try checkDecoder(inner, unsupported: unsupported) }
        default: throw unsupported("decoder \"\(spec.type ?? "?")\" is not supported (supported: ByteLevel)")
        }
    }

    /// The token a post-processor puts before the text, if any (TemplateProcessing's first special
    /// token before `$A`; Roberta/Bert processing's cls).
    private static func templateBOS(_ spec: TokenizerJSON.PostProcessorSpec?,
                                    unsupported: (String) -> TokenizerError) throws -> String? {
        guard let spec else { return nil }
        switch spec.type {
        case "ByteLevel": return nil
        case "TemplateProcessing":
            guard let single = spec.single, let first = single.first else { return nil }
            return first.specialToken?.id
        case "RobertaProcessing", "BertProcessing": return spec.cls?.token
        case "Sequence":
            for inner in spec.processors ?? [] {
                if let bos = try templateBOS(inner, unsupported: unsupported) { return bos }
            }
            return nil
        default:
            throw unsupported("post_processor \"\(spec.type ?? "?")\" is not supported (supported: ByteLevel, TemplateProcessing, Sequence)")
        }
    }

    private static func readConfig(_ path: String) throws -> TokenizerConfigJSON? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(TokenizerConfigJSON.self, from: data)
        } catch {
            throw TokenizerError(kind: .invalidModel, path: path, message: "\(path): not a tokenizer_config.json (\(describe(error)))")
        }
    }

    /// A DecodingError in a line: what was wrong and where.
    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
             DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
            let at = context.codingPath.map(\.stringValue).joined(separator: ".")
            return at.isEmpty ? context.debugDescription : "\(at): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
