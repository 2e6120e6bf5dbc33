// A user's own model folder with a byte-level BPE tokenizer.json and no tokenizer.model (a tiny
// random qwen3 with the Qwen2-style vocabulary, a tiny Llama-3-rope model with the Llama 3 one;
// Tests/Fixtures/tiny-*-bpe + bpe-*): the label words are single "Ġ" pieces, MeZO trains, `eval
// --run` and the exported folder give the same predictions, and the export carries the tokenizer.
// (tools/check/check_bpe_export.sh reloads such an export in transformers.)

import Foundation
import TestSupport
import XCTest

final class ByteLevelModelCLITests: XCTestCase {
    func testLabelWordsAreSingleByteLevelPieces() throws {
        let model = try assemble(model: "tiny-qwen3-bpe", vocabulary: "bpe-qwen2")
        for word in [" great", " terrible"] {
            let result = try CLI.run(["tokenize", "--model", model.path, word, "--json"])
            guard let object = singleJSONObject(result) else { return }
            XCTAssertEqual((object["ids"] as? [Int])?.count, 1, result.summary)
            XCTAssertEqual(object["pieces"] as? [String], ["Ġ" + word.dropFirst()], result.summary)
        }
    }

    func testQwen3FolderTrainsEvaluatesAndExports() throws { try trainEvaluateExport(model: "tiny-qwen3-bpe", vocabulary: "bpe-qwen2") }
    func testLlama3FolderTrainsEvaluatesAndExports() throws { try trainEvaluateExport(model: "tiny-llama3-bpe", vocabulary: "bpe-llama3") }

    private func trainEvaluateExport(model name: String, vocabulary: String) throws {
        let model = try assemble(model: name, vocabulary: vocabulary)
        let data = try TemporaryFolder("bpe-data"), runs = try TemporaryFolder("bpe-runs")
        removeAtTearDown(data.remove, runs.remove)
        // Unicode, digits and an added token's text inside a sentence go through the same path.
        let rows = ["1\ta great movie", "0\tit was terrible and dull", "1\tthe film is a délight 😀",
                    "0\tan awful , boring film of 1234567 minutes", "1\ta charming <|endoftext|> journey", "0\tdull"]
        try data.write("train.tsv", "label\tsentence\n" + rows.joined(separator: "\n") + "\n")
        try data.write("dev.tsv", "label\tsentence\n" + rows.joined(separator: "\n") + "\n")
        let run = runs.path + "/run", exported = runs.path + "/exported"
        let common = ["--task", "sst2", "--data", data.path]

        let trained = try CLI.run(["train", "--model", model.path] + common
                                  + ["--steps", "4", "--batch-size", "2", "--train-examples", "6", "--lr", "1e-3",
                                     "--eval-every", "2", "--out", run, "--json"])
        guard let summary = singleJSONObject(trained) else { return }
        XCTAssertEqual(summary["steps"] as? Int, 4, trained.summary)
        let losses = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)
        XCTAssertTrue(losses.contains("\"seeds\""), losses)   // MeZO steps logged as seeds

        let fromRun = runs.file("from-run.json").path, fromExport = runs.file("from-export.json").path
        let evaluated = try CLI.run(["eval", "--model", model.path, "--run", run] + common
                                    + ["--split", "dev", "--predictions-out", fromRun, "--json"])
        XCTAssertEqual(singleJSONObject(evaluated)?["n"] as? Int, rows.count, evaluated.summary)

        let export = try CLI.run(["export", "--model", model.path, "--run", run, "--out", exported])
        XCTAssertEqual(export.status, 0, export.summary)
        for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: exported + "/" + file), "\(file) not exported\n\(export.summary)")
        }
        let reloaded = try CLI.run(["eval", "--model", exported] + common
                                   + ["--split", "dev", "--predictions-out", fromExport, "--json"])
        XCTAssertEqual(singleJSONObject(reloaded)?["n"] as? Int, rows.count, reloaded.summary)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: fromRun)), try Data(contentsOf: URL(fileURLWithPath: fromExport)),
                       "the exported folder predicts differently from the run it came from")
        // The export holds the trained weights, not the base model's.
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: exported + "/model.safetensors")),
                          try Data(contentsOf: model.file("model.safetensors")))
    }
}

extension XCTestCase {
    /// config.json + model.safetensors of `model`, tokenizer.json + tokenizer_config.json of `vocabulary`.
    func assemble(model: String, vocabulary: String) throws -> TemporaryFolder {
        let folder = try TemporaryFolder(model)
        removeAtTearDown(folder.remove)
        for (source, file) in [(model, "config.json"), (model, "model.safetensors"),
                               (vocabulary, "tokenizer.json"), (vocabulary, "tokenizer_config.json")] {
            try FileManager.default.copyItem(atPath: Repo.fixture(source) + "/" + file, toPath: folder.file(file).path)
        }
        return folder
    }
}
