// `export --format gguf` on tiny models of each llama.cpp architecture we write (gemma3 with a
// SentencePiece tokenizer, qwen2 with biases, qwen3 and Llama-3-rope llama with byte-level BPE
// tokenizers): a short MeZO run is exported as a Hugging Face folder and as GGUF f32 / f16 / bf16 /
// q8_0, and tools/check/check_gguf.py reads each GGUF back with gguf-py (tensor names from gguf-py's map,
// bytes equal to gguf-py's own encoding after llama.cpp's conventions, tokens and scores) and with
// transformers' GGUF loader (f32 logits equal to the Hugging Face folder's to 1e-5).

import Foundation
import TestSupport
import XCTest

final class GGUFExportCLITests: XCTestCase {
    /// config.json + model.safetensors of the fixture `model`, and a tokenizer.
    private func assembleModelFolder(model: String, vocabulary: String?) throws -> TemporaryFolder {
        let folder = try TemporaryFolder("gguf-\(model)")
        removeAtTearDown(folder.remove)
        for file in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: Repo.fixture(model) + "/" + file, toPath: folder.file(file).path)
        }
        if let vocabulary {
            for file in ["tokenizer.json", "tokenizer_config.json"] {
                try FileManager.default.copyItem(atPath: Repo.fixture(vocabulary) + "/" + file, toPath: folder.file(file).path)
            }
        } else {
            try FileManager.default.copyItem(at: TinyTokenizer.small.get(), to: folder.file("tokenizer.model"))
        }
        return folder
    }

    /// One export per architecture and type, then one python3 process checks them all (importing
    /// torch and transformers is most of its time).
    func testEachArchitectureReadsBackInGGUFPyAndTransformers() throws {
        try PythonCheck.require("gguf, transformers, torch")
        let cases: [(model: String, vocabulary: String?, types: [String])] = [
            ("tiny-gemma3", nil, ["f32", "f16", "bf16", "q8_0"]),        // SentencePiece, norms 1 + w
            ("tiny-qwen2", nil, ["f32", "q8_0"]),                         // q/k/v biases, tied head
            ("tiny-qwen3-bpe", "bpe-qwen2", ["f32", "q8_0"]),            // byte-level BPE "qwen2", q/k norms
            ("tiny-llama3-bpe", "bpe-llama3", ["f32", "q8_0"]),          // "llama-bpe", q/k permutation, rope_freqs
        ]
        let out = try TemporaryFolder("gguf-out")
        removeAtTearDown(out.remove)
        var files: [String] = [], folders: [String] = []
        for c in cases {
            let (gguf, hf) = try export(model: c.model, vocabulary: c.vocabulary, types: c.types, into: out)
            files += gguf
            folders += gguf.map { _ in hf }
        }
        try check(files: files, folders: folders, scratch: out)
    }

    /// A 2-step MeZO run on the fixture, exported as a Hugging Face folder and as GGUF of each type.
    private func export(model name: String, vocabulary: String?, types: [String], into out: TemporaryFolder) throws -> ([String], String) {
        let model = try assembleModelFolder(model: name, vocabulary: vocabulary)
        let data = try TemporaryFolder.tinySST2("gguf-data")
        removeAtTearDown(data.remove)
        let run = out.path + "/\(name)-run", hf = out.path + "/\(name)-hf"
        let trained = try CLI.run(["train", "--model", model.path, "--task", "sst2", "--data", data.path, "--steps", "2",
                                   "--batch-size", "2", "--train-examples", "6", "--lr", "1e-3", "--eval-every", "0", "--out", run])
        XCTAssertEqual(trained.status, 0, trained.summary)
        let exported = try CLI.run(["export", "--model", model.path, "--run", run, "--at", "last", "--out", hf])
        XCTAssertEqual(exported.status, 0, exported.summary)
        var files: [String] = []
        for type in types {
            let file = out.path + "/\(name)-\(type).gguf"
            let result = try CLI.run(["export", "--model", model.path, "--run", run, "--at", "last", "--format", "gguf",
                                      "--type", type, "--out", file])
            XCTAssertEqual(result.status, 0, result.summary)
            XCTAssertTrue(result.stderr.contains("wrote \(file)"), result.summary)
            files.append(file)
        }
        return (files, hf)
    }

    private func check(files: [String], folders: [String], scratch out: TemporaryFolder) throws {
        let (status, output, errors) = try PythonCheck.run(
            [Repo.root + "/tools/check/check_gguf.py", "--gguf"] + files + ["--hf"] + folders + ["--json", "--threads", "1"], scratch: out)
        XCTAssertEqual(status, 0, errors.suffix(3000).description)
        let json = try JSONSerialization.jsonObject(with: output) as? [String: Any]
        let results = (json?["files"] as? [[String: Any]]) ?? (json.map { [$0] } ?? [])
        XCTAssertEqual(results.count, files.count, errors.suffix(3000).description)
        for result in results {
            XCTAssertEqual(result["ok"] as? Bool, true, "\(result)")
            let logits = result["logits"] as? [String: Any]
            if result["file_type"] as? Int == 0 {
                XCTAssertLessThanOrEqual(logits?["max_abs_diff"] as? Double ?? 1, 1e-5, "\(result)")
            } else {
                // Rounded weights: the logits move, but by far less than their scale.
                let diff = logits?["max_abs_diff"] as? Double ?? 1, scale = logits?["max_abs_logit"] as? Double ?? 0
                XCTAssertLessThan(diff, 0.1 * scale, "\(result)")
            }
        }
    }
}
