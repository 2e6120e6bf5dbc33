// SentencePiece tokenizer (Gemma, Llama) over the CSentencePiece C API.
//
// The C handle is immutable after loading and sentencepiece's Encode/Decode are const, so one
// instance is shared by every thread; the only per-call state is the output buffer.

import CSentencePiece
import Foundation

/// A `Tokenizer` backed by a SentencePiece `tokenizer.model` (serialized ModelProto).
public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    // @unchecked Sendable: `handle` is never mutated after init and the C API is documented
    // thread-safe for concurrent calls on one handle (see zf_sentencepiece.h).
    private let handle: OpaquePointer
    /// The file this tokenizer was loaded from (used in error messages).
    public let modelPath: String

    public let vocabularySize: Int
    public let bosID: Int32?
    public let eosID: Int32?
    public let padID: Int32?
    public let unknownID: Int32?

    /// Loads a SentencePiece model file.
    ///
    /// Throws `TokenizerError` with kind `.modelNotFound` ("tokenizer.model not found in <dir>")
    /// if the file is missing, `.invalidModel` (naming the file and sentencepiece's reason) if it
    /// cannot be parsed.
    public init(modelPath: String) throws {
        var isDirectory: ObjCBool = false
        let url = URL(fileURLWithPath: modelPath)
        guard FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDirectory) else {
            let folder = url.deletingLastPathComponent().path
            throw TokenizerError(
                kind: .modelNotFound, path: modelPath,
                message: "\(url.lastPathComponent) not found in \(folder) (looked for \(modelPath))")
        }
        guard !isDirectory.boolValue else {
            throw TokenizerError(
                kind: .invalidModel, path: modelPath,
                message: "\(modelPath) is a directory, not a SentencePiece model file")
        }
        var loaded: OpaquePointer?
        let status = zf_spm_load(modelPath, &loaded)
        guard status == ZF_SPM_OK, let loaded else {
            throw TokenizerError(
                kind: .invalidModel, path: modelPath,
                message: "\(modelPath) is not a valid SentencePiece model: \(Self.lastMessage(status))",
                statusCode: status)
        }
        handle = loaded
        self.modelPath = modelPath
        vocabularySize = Int(zf_spm_vocab_size(loaded))
        // sentencepiece reports an undefined reserved id as -1.
        func reserved(_ id: Int32) -> Int32? { id >= 0 ? id : nil }
        bosID = reserved(zf_spm_bos_id(loaded))
        eosID = reserved(zf_spm_eos_id(loaded))
        padID = reserved(zf_spm_pad_id(loaded))
        unknownID = reserved(zf_spm_unk_id(loaded))
    }

    deinit { zf_spm_free(handle) }

    public func encode(_ text: String) throws -> [Int32] {
        var text = text
        return try text.withUTF8 { bytes -> [Int32] in
            // One piece covers at least one byte, except that a dummy-prefix "▁" or a
            // normaliser may add a few; a too-small guess costs one retry with the exact size.
            var capacity = bytes.count + 8
            while true {
                var count = 0
                var status: Int32 = ZF_SPM_OK
                let ids = [Int32](unsafeUninitializedCapacity: capacity) { buffer, initialized in
                    status = bytes.withMemoryRebound(to: CChar.self) { chars in
                        zf_spm_encode(handle, chars.baseAddress, chars.count, buffer.baseAddress, capacity, &count)
                    }
                    initialized = status == ZF_SPM_OK ? count : 0
                }
                if status == ZF_SPM_OK {
                    // Text is ~4 bytes a token: don't keep 4x the storage in every stored array.
                    guard ids.capacity > 2 * ids.count + 16 else { return ids }
                    var exact = [Int32]()
                    exact.reserveCapacity(ids.count)
                    exact.append(contentsOf: ids)
                    return exact
                }
                if status == ZF_SPM_BUFFER_TOO_SMALL && count > capacity {
                    capacity = count
                    continue
                }
                throw TokenizerError(
                    kind: .encodingFailed, path: modelPath,
                    message: "\(modelPath): encoding failed: \(Self.lastMessage(status))", statusCode: status)
            }
        }
    }

    public func decode(_ ids: [Int32]) throws -> String {
        var output: UnsafeMutablePointer<CChar>?
        var length = 0
        let status = ids.withUnsafeBufferPointer { buffer in
            zf_spm_decode(handle, buffer.baseAddress, buffer.count, &output, &length)
        }
        defer { zf_spm_string_free(output) }
        guard status == ZF_SPM_OK, let output else {
            throw TokenizerError(
                kind: .decodingFailed, path: modelPath,
                message: "\(modelPath): decoding failed: \(Self.lastMessage(status))", statusCode: status)
        }
        // Decoded text may contain NUL bytes (byte-fallback pieces), so go by length, not C string.
        return output.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    public func piece(for id: Int32) -> String? {
        var capacity = 64
        while true {
            var length = 0
            var status: Int32 = ZF_SPM_OK
            let piece = withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { buffer -> String? in
                status = zf_spm_id_to_piece(handle, id, buffer.baseAddress, capacity, &length)
                guard status == ZF_SPM_OK else { return nil }
                return buffer.baseAddress!.withMemoryRebound(to: UInt8.self, capacity: length) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                }
            }
            if status == ZF_SPM_BUFFER_TOO_SMALL && length + 1 > capacity {
                capacity = length + 1
                continue
            }
            return piece
        }
    }

    public func id(for piece: String) -> Int32? {
        var piece = piece
        var id: Int32 = -1
        let status = piece.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                zf_spm_piece_to_id(handle, chars.baseAddress, chars.count, &id)
            }
        }
        return status == ZF_SPM_OK ? id : nil
    }

    /// True for control pieces such as `<bos>`, `<eos>`, `<pad>` (decode renders them as "").
    public func isControl(_ id: Int32) -> Bool { zf_spm_is_control(handle, id) != 0 }
    /// True for the unknown piece.
    public func isUnknown(_ id: Int32) -> Bool { zf_spm_is_unknown(handle, id) != 0 }
    /// True for byte-fallback pieces such as `<0xE2>`.
    public func isByte(_ id: Int32) -> Bool { zf_spm_is_byte(handle, id) != 0 }
    /// True for pieces the model marks unused.
    public func isUnused(_ id: Int32) -> Bool { zf_spm_is_unused(handle, id) != 0 }
    /// The piece's score in the model (what llama.cpp's "llama" tokenizer ranks merges by).
    public func score(_ id: Int32) -> Float { zf_spm_score(handle, id) }

    /// Whether this model allows the exact word cache (BPE, identity normaliser, no dummy prefix;
    /// Gemma qualifies). See zf_sentencepiece.h for why splitting at words is then exact.
    public var wordCacheSupported: Bool { zf_spm_word_cache_supported(handle) != 0 }

    /// Whether `encode` splits text into words and reuses each word's ids (on by default when
    /// supported; ids are the same either way). Turning it off is for benchmarks and tests.
    public var wordCacheEnabled: Bool {
        get { zf_spm_word_cache_enabled(handle) != 0 }
        set { _ = zf_spm_set_word_cache(handle, newValue ? 1 : 0) }
    }

    /// The thread-local message CSentencePiece left for the failure just returned.
    private static func lastMessage(_ status: Int32) -> String {
        let message = String(cString: zf_spm_status_message())
        return message.isEmpty ? "status \(status)" : "\(message) (status \(status))"
    }
}
