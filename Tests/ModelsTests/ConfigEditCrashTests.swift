import Foundation
import Models
import TestSupport
import XCTest

/// The config.json edits that crashed `zofinetune` (tools/check/config_edits.py on the tiny Qwen3 folder:
/// 15 of 300 random edits trapped — integer overflow, division by zero, negative counts — or
/// aborted), each now an error naming the file and the key. Loaded like the CLI loads a model.
final class ConfigEditCrashTests: XCTestCase {
    func loadError(_ fixture: String, _ edit: [String: Any], encoder: Bool = false) throws -> String {
        let folder = NSTemporaryDirectory() + "zf-config-edit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: Repo.fixture(fixture) + "/model.safetensors", toPath: folder + "/model.safetensors")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Repo.fixture(fixture) + "/config.json")))
            as! [String: Any]
        for (k, v) in edit { config[k] = v }
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        do {
            if encoder { _ = try ModelLoader.loadEncoder(directory: folder) } else { _ = try ModelLoader.loadDecoder(directory: folder) }
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testEditsThatTrappedAreErrorsNamingTheKey() throws {
        let cases: [([String: Any], String)] = [
            (["num_attention_heads": Int.min], "num_attention_heads"),
            (["num_attention_heads": 2_147_483_648, "max_position_embeddings": 128_000], "num_attention_heads"),
            (["num_hidden_layers": -2], "num_hidden_layers"),
            (["num_key_value_heads": 4_611_686_018_427_387_904], "num_key_value_heads"),
            (["head_dim": Int.min], "head_dim"),
            (["intermediate_size": -32], "intermediate_size"),
            (["intermediate_size": Int.max], "intermediate_size"),
            (["vocab_size": Int.min], "vocab_size"),
            (["vocab_size": Int.max], "vocab_size"),
            (["hidden_size": 0], "hidden_size"),
            (["num_attention_heads": 0], "num_attention_heads"),
            (["num_key_value_heads": 3], "num_key_value_heads"),
            (["max_position_embeddings": -1], "max_position_embeddings"),
            (["pad_token_id": -7], "pad_token_id"),
            (["eos_token_id": 1 << 40], "eos_token_id"),
            (["rope_parameters": ["rope_theta": 0, "rope_type": "default"]], "rope_theta"),
        ]
        for (edit, key) in cases {
            let message = try loadError("tiny-qwen3-bpe", edit)
            XCTAssertTrue(message.contains("config.json") && message.contains(key), "\(edit): \(message)")
        }
    }

    func testGemmaSlidingPatternZeroAndTooManyParameters() throws {
        XCTAssertTrue(try loadError("tiny-gemma3", ["sliding_window_pattern": 0, "layer_types": NSNull()]).contains("sliding_window_pattern"))
        // In range, but 100,000× the vocabulary the weights hold: refused before allocating it.
        let message = try loadError("tiny-gemma3", ["vocab_size": 12_800_000])
        XCTAssertTrue(message.contains("needs") && message.contains("weight files hold"), message)
    }

    func testEncoderPadIdAndSizes() throws {
        for (edit, key) in [(["pad_token_id": Int.max], "pad_token_id"), (["num_hidden_layers": -1], "num_hidden_layers"),
                            (["type_vocab_size": Int.min], "type_vocab_size"), (["max_position_embeddings": 0], "max_position_embeddings")]
            as [([String: Any], String)] {
            let message = try loadError("tiny-roberta", edit, encoder: true)
            XCTAssertTrue(message.contains(key), "\(edit): \(message)")
        }
    }
}
