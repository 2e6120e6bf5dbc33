// Encoder config and checkpoint loading: what is refused (with the file named) and what is
// accepted (names with or without the "bert." prefix, the unused pooler skipped).

import Foundation
import XCTest

import Models
import Optimizers
import Tensors
import TestSupport
import Weights

final class EncoderLoadingTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    private var directory: URL!
    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("encoder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    private func config(_ extra: String = "") -> String {
        """
        {"model_type": "bert", "vocab_size": 50, "hidden_size": 32, "num_hidden_layers": 2,
         "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 40,
         "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0\(extra)}
        """
    }

    private func assertConfigError(_ json: String, mentioning needle: String, line: UInt = #line) {
        XCTAssertThrowsError(try EncoderConfig.decode(Data(json.utf8), path: "dir/config.json"), line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("dir/config.json") && text.contains(needle), text, line: line)
        }
    }

    func testConfigRefusesWhatItCannotRun() {
        assertConfigError(config(#", "hidden_act": "gelu_new""#), mentioning: "hidden_act \"gelu_new\"")
        assertConfigError(config(#", "position_embedding_type": "relative_key""#), mentioning: "relative_key")
        assertConfigError(#"{"model_type": "gemma3_text"}"#, mentioning: "unsupported model_type")
        assertConfigError(#"{"model_type": "bert", "hidden_size": 32}"#, mentioning: "num_attention_heads")
    }

    func testRobertaPositionsStartAfterPadding() throws {
        let c = try EncoderConfig.decode(Data(config(#", "hidden_act": "gelu""#).replacingOccurrences(
            of: "\"bert\"", with: "\"roberta\"").replacingOccurrences(of: "\"pad_token_id\": 0", with: "\"pad_token_id\": 1").utf8),
            path: "config.json")
        XCTAssertEqual(c.positionOffset, 2)
        XCTAssertEqual(c.maxSequenceLength, 38)
    }

    /// The same random weights saved with and without "bert." (plus a pooler to skip) give the same
    /// embeddings; a missing tensor is named.
    func testPrefixedAndBareNamesLoadAlike() throws {
        let c = try EncoderConfig.decode(Data(config().utf8), path: "config.json")
        var rng = SplitMix64(seed: 7)
        let bare = EncoderModel.makeArena(config: c)
        for i in 0..<bare.count { bare.storage[i] = 0.2 * rng.normal() }

        func save(prefix: String, dropping: String? = nil) throws -> String {
            let folder = directory.appendingPathComponent(prefix.isEmpty ? "bare" : "prefixed")
            try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(config().utf8).write(to: folder.appendingPathComponent("config.json"))
            let pooler = [Float](repeating: 0.5, count: 32 * 32)
            try pooler.withUnsafeBufferPointer { p in
                var entries = bare.slots.filter { $0.name != dropping }.map {
                    SafeTensorsWriter.Entry(name: prefix + $0.name, shape: $0.shape, data: UnsafeBufferPointer(bare.buffer($0)))
                }
                entries.append(SafeTensorsWriter.Entry(name: prefix + "pooler.dense.weight", shape: [32, 32], data: p))
                try SafeTensorsWriter.write(path: folder.appendingPathComponent("model.safetensors").path, entries: entries)
            }
            return folder.path
        }
        let a = try ModelLoader.loadEncoder(directory: try save(prefix: ""))
        let b = try ModelLoader.loadEncoder(directory: try save(prefix: "bert."))
        XCTAssertEqual(a.prefix, "")
        XCTAssertEqual(b.prefix, "bert.")
        XCTAssertNotNil(b.arena.slot("bert.encoder.layer.1.output.LayerNorm.bias"))

        let batch = PackedBatch(sequences: [[2, 7, 9, 3], [2, 11, 3]])
        let wa = EncoderWorkspace(config: c, maxTokens: 16), wb = EncoderWorkspace(config: c, maxTokens: 16)
        let ea = Array(UnsafeBufferPointer(start: a.sentenceEmbeddings(batch, workspace: wa), count: 2 * 32))
        let eb = Array(UnsafeBufferPointer(start: b.sentenceEmbeddings(batch, workspace: wb), count: 2 * 32))
        XCTAssertEqual(ea, eb)
        // Unit length, and a sequence's embedding does not depend on what it is packed with.
        XCTAssertEqual(ea[0..<32].reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-5)
        let alone = Array(UnsafeBufferPointer(start: a.sentenceEmbeddings(PackedBatch(sequences: [[2, 11, 3]]), workspace: wa), count: 32))
        for (x, y) in zip(alone, ea[32...]) { XCTAssertEqual(x, y, accuracy: 1e-5) }

        XCTAssertThrowsError(try ModelLoader.loadEncoder(directory: try save(prefix: "", dropping: "encoder.layer.1.intermediate.dense.bias"))) {
            XCTAssertTrue("\($0)".contains("encoder.layer.1.intermediate.dense.bias"), "\($0)")
        }
    }
}
