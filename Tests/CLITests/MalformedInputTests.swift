// The CLI on broken inputs: every case must end as a normal process exit (no signal, i.e. no
// crash), with a non-zero status and a message on stderr that names the file and, where one is
// involved, the tensor, and with nothing on stdout.
//
// Each broken folder is the valid tiny folder of `testValidTinyFolderRuns` with one thing broken,
// so a failure here is caused by that one thing. Model errors go through `eval --data` with a
// valid dev.tsv: eval loads the data first, then the tokenizer, then the weights, so the weights
// error is what stops it.

import Foundation
import XCTest

final class MalformedInputTests: XCTestCase {
    /// A valid tiny model folder, removed after the test.
    private func tinyModel(_ label: String, tokenizer: URL? = nil) throws -> TinyModelFolder {
        let model = try TinyModelFolder(label, tokenizer: tokenizer)
        removeAtTearDown(model.remove)
        return model
    }

    /// A data folder holding `dev.tsv` (or nothing, when `devTSV` is nil).
    private func dataFolder(devTSV: String? = "label\tsentence\n1\ta great movie\n0\tit was terrible and dull\n") throws -> TemporaryFolder {
        let folder = try TemporaryFolder("data")
        removeAtTearDown(folder.remove)
        if let devTSV { try folder.write("dev.tsv", devTSV) }
        return folder
    }

    /// `eval` of `model` on a valid two-sentence dev.tsv.
    private func eval(_ model: String, _ extra: [String] = []) throws -> CLIResult {
        try CLI.run(["eval", "--model", model, "--task", "sst2", "--data", try dataFolder().path, "--json"] + extra)
    }

    // MARK: the control

    /// The unbroken folder works with both commands, so the failures below come from the breakage.
    func testValidTinyFolderRuns() throws {
        let model = try tinyModel("valid")
        let evaluated = try eval(model.path)
        if let object = singleJSONObject(evaluated) {
            XCTAssertEqual(object["n"] as? Int, 2, evaluated.summary)
            XCTAssertEqual(object["task"] as? String, "sst2")
            let accuracy = try XCTUnwrap(object["accuracy"] as? Double)
            XCTAssertTrue([0, 0.5, 1].contains(accuracy), "accuracy \(accuracy) of 2 examples")
        }
        let prompted = try CLI.run(["prompt", "--model", model.path, "the film is a delight . it was",
                                    "--candidates", " great", " terrible", "--json"])
        if let object = singleJSONObject(prompted) {
            let candidates = try XCTUnwrap(object["candidates"] as? [[String: Any]], prompted.summary)
            XCTAssertEqual(candidates.compactMap { $0["text"] as? String }, [" great", " terrible"])
            for candidate in candidates {
                let logprob = try XCTUnwrap(candidate["logprob"] as? Double)
                XCTAssertTrue(logprob.isFinite && logprob < 0, "logprob \(logprob)")
            }
        }
    }

    // MARK: model.safetensors

    func testTruncatedSafetensors() throws {
        let model = try tinyModel("truncated")
        let whole = try model.readWeights().whole
        try model.writeWeights(whole.prefix(whole.count / 2))
        // The header survives the cut; the tensors past the half are out of range.
        assertCleanFailure(try eval(model.path), mentions: [model.weightsPath, "tensor '", "truncated"])
    }

    func testFileShorterThanTheHeaderLength() throws {
        let model = try tinyModel("stub")
        try model.writeWeights(Data([1, 2, 3]))
        assertCleanFailure(try eval(model.path), mentions: [model.weightsPath, "8-byte"])
    }

    func testHeaderIsNotJSON() throws {
        let model = try tinyModel("badjson")
        let file = try model.readWeights()
        // Drop the closing brace: an unterminated object, same length, same data.
        var header = file.headerBytes
        let brace = try XCTUnwrap(header.lastIndex(of: UInt8(ascii: "}")))
        header[brace] = UInt8(ascii: " ")
        try model.writeWeights(try file.bytes(headerBytes: header))
        assertCleanFailure(try eval(model.path), mentions: [model.weightsPath, "not valid JSON"])
    }

    func testHeaderLengthPastTheEndOfTheFile() throws {
        let model = try tinyModel("badlength")
        var bytes = try model.readWeights().whole
        bytes.replaceSubrange(0..<8, with: Data([0, 0, 0, 0, 1, 0, 0, 0]))   // 2^32 bytes of header
        try model.writeWeights(bytes)
        assertCleanFailure(try eval(model.path), mentions: [model.weightsPath, "header"])
    }

    func testDataOffsetsOutOfRange() throws {
        let model = try tinyModel("offsets")
        var file = try model.readWeights()
        let name = "model.layers.0.self_attn.q_proj.weight"
        let begin = try XCTUnwrap((try file.entry(name)["data_offsets"] as? [Int])?.first)
        try file.setField(name, "data_offsets", [begin, file.data.count + 4096])
        try model.writeWeights(try file.bytes())
        assertCleanFailure(try eval(model.path), mentions: [model.weightsPath, name, "out of range"])
    }

    func testDataOffsetsDisagreeWithTheShape() throws {
        let model = try tinyModel("offsets-size")
        var file = try model.readWeights()
        let name = "model.layers.2.mlp.up_proj.weight"
        let offsets = try XCTUnwrap(try file.entry(name)["data_offsets"] as? [Int])
        try file.setField(name, "data_offsets", [offsets[0], offsets[1] - 4])
        try model.writeWeights(try file.bytes())
        assertCleanFailure(try eval(model.path), mentions: [model.weightsPath, name])
    }

    func testUnknownDType() throws {
        let model = try tinyModel("dtype")
        var file = try model.readWeights()
        let name = "model.layers.0.mlp.up_proj.weight"
        try file.setField(name, "dtype", "Q9")
        try model.writeWeights(try file.bytes())
        assertCleanFailure(try eval(model.path), mentions: [model.weightsPath, name, "Q9"])
    }

    /// A real safetensors dtype the loader cannot read as floats.
    func testIntegerDType() throws {
        let model = try tinyModel("i32")
        var file = try model.readWeights()
        let name = "model.layers.1.mlp.down_proj.weight"
        try file.setField(name, "dtype", "I32")
        try model.writeWeights(try file.bytes())
        assertCleanFailure(try eval(model.path), mentions: [model.weightsPath, name, "I32"])
    }

    func testMissingTensor() throws {
        let model = try tinyModel("missing")
        var file = try model.readWeights()
        let name = "model.layers.1.self_attn.k_proj.weight"
        _ = try file.entry(name)
        file.header[name] = nil
        try model.writeWeights(try file.bytes())
        assertCleanFailure(try eval(model.path), mentions: [model.weightsPath, name])
    }

    /// An extra tensor that fills no parameter: strict loading refuses it rather than ignore it.
    func testUnexpectedTensor() throws {
        let model = try tinyModel("unexpected")
        var file = try model.readWeights()
        var entry = try file.entry("model.norm.weight")
        entry["shape"] = [32]
        file.header["model.layers.9.extra.weight"] = entry   // shares model.norm's bytes
        try model.writeWeights(try file.bytes())
        assertCleanFailure(try eval(model.path), mentions: [model.weightsPath, "model.layers.9.extra.weight"])
    }

    func testShapeMismatch() throws {
        let model = try tinyModel("shape")
        var file = try model.readWeights()
        let name = "model.layers.0.mlp.gate_proj.weight"
        XCTAssertEqual(try file.entry(name)["shape"] as? [Int], [48, 32])
        try file.setField(name, "shape", [32, 48])   // same size, transposed
        try model.writeWeights(try file.bytes())
        assertCleanFailure(try eval(model.path), mentions: [model.weightsPath, name, "[32, 48]", "[48, 32]"])
    }

    func testMissingWeightsFile() throws {
        let model = try tinyModel("noweights")
        try model.deleteFile("model.safetensors")
        assertCleanFailure(try eval(model.path), mentions: [model.path, "model.safetensors"])
    }

    // MARK: the rest of the folder

    func testMissingTokenizer() throws {
        let model = try tinyModel("notokenizer")
        try model.deleteFile("tokenizer.model")
        assertCleanFailure(try eval(model.path), mentions: [model.path, "tokenizer.model"])
        let prompted = try CLI.run(["prompt", "--model", model.path, "a film", "--candidates", " great", "--json"])
        assertCleanFailure(prompted, mentions: [model.path, "tokenizer.model"])
    }

    func testTokenizerFileIsGarbage() throws {
        let model = try tinyModel("badtokenizer")
        try Data("not a protobuf".utf8).write(to: URL(fileURLWithPath: model.tokenizerPath))
        assertCleanFailure(try eval(model.path), mentions: [model.tokenizerPath])
    }

    /// A tokenizer with more ids than the model has embedding rows: ids past the rows would read
    /// outside the weights (this crashed eval with SIGSEGV and gave prompt garbage log-probs).
    func testTokenizerLargerThanTheModelVocabulary() throws {
        let model = try tinyModel("bigvocab", tokenizer: try TinyTokenizer.large.get())
        let data = try dataFolder()
        let evaluated = try CLI.run(["eval", "--model", model.path, "--task", "sst2", "--data", data.path, "--json"])
        assertCleanFailure(evaluated, mentions: [model.tokenizerPath, model.configPath, "vocab_size 128"])
        let prompted = try CLI.run(["prompt", "--model", model.path, "a film", "--candidates", " great", "--json"])
        assertCleanFailure(prompted, mentions: [model.tokenizerPath, "vocab_size 128"])
    }

    func testUnknownModelType() throws {
        let model = try tinyModel("modeltype")
        try model.editConfig { $0["model_type"] = "gpt_neo_x9" }
        assertCleanFailure(try eval(model.path), mentions: [model.configPath, "gpt_neo_x9"])
    }

    func testConfigMissingAKey() throws {
        let model = try tinyModel("nohidden")
        try model.editConfig { $0["hidden_size"] = nil }
        assertCleanFailure(try eval(model.path), mentions: [model.configPath, "hidden_size"])
    }

    func testConfigIsNotJSON() throws {
        let model = try tinyModel("badconfig")
        try Data("{\"model_type\": \"gemma3_text\",".utf8).write(to: URL(fileURLWithPath: model.configPath))
        assertCleanFailure(try eval(model.path), mentions: [model.configPath])
    }

    func testMissingConfig() throws {
        let model = try tinyModel("noconfig")
        try model.deleteFile("config.json")
        assertCleanFailure(try eval(model.path), mentions: [model.configPath])
    }

    func testNonexistentModelFolder() throws {
        let missing = NSTemporaryDirectory() + "zf-cli-no-such-model-\(UUID().uuidString)"
        assertCleanFailure(try eval(missing), mentions: [missing])
        assertCleanFailure(try CLI.run(["prompt", "--model", missing, "a film", "--json"]), mentions: [missing])
    }

    // MARK: prompt lengths (the kernels do not check bounds)

    /// The fixture has 64 positions: a longer prompt must be refused, not run past the RoPE tables.
    func testPromptLongerThanTheModelsPositions() throws {
        let model = try tinyModel("longprompt")
        let text = Array(repeating: "great", count: 100).joined(separator: " ")
        let scored = try CLI.run(["prompt", "--model", model.path, text, "--candidates", " great", " terrible", "--json"])
        assertCleanFailure(scored, mentions: ["64 positions"])
        let generated = try CLI.run(["prompt", "--model", model.path, text, "--max-new-tokens", "2", "--json"])
        assertCleanFailure(generated, mentions: ["64 positions"])
    }

    func testEvalSentenceLongerThanTheModelsPositions() throws {
        let model = try tinyModel("longsentence")
        let sentence = Array(repeating: "great", count: 100).joined(separator: " ")
        let data = try dataFolder(devTSV: "label\tsentence\n1\t\(sentence)\n")
        let evaluated = try CLI.run(["eval", "--model", model.path, "--task", "sst2", "--data", data.path, "--json"])
        assertCleanFailure(evaluated, mentions: ["64 positions"])
    }

    // MARK: data and options

    func testDataFolderWithoutDevTSV() throws {
        let model = try tinyModel("nodev")
        let data = try dataFolder(devTSV: nil)
        let result = try CLI.run(["eval", "--model", model.path, "--task", "sst2", "--data", data.path, "--json"])
        assertCleanFailure(result, mentions: [data.file("dev.tsv").path])
    }

    func testDevTSVWithoutLabelColumn() throws {
        let model = try tinyModel("nolabel")
        let data = try dataFolder(devTSV: "sentence\na great movie\n")
        let result = try CLI.run(["eval", "--model", model.path, "--task", "sst2", "--data", data.path, "--json"])
        assertCleanFailure(result, mentions: [data.file("dev.tsv").path, "label"])
    }

    func testDevTSVWithABadLabel() throws {
        let model = try tinyModel("badlabel")
        let data = try dataFolder(devTSV: "label\tsentence\n1\tgood\nmaybe\tso-so\n")
        let result = try CLI.run(["eval", "--model", model.path, "--task", "sst2", "--data", data.path, "--json"])
        assertCleanFailure(result, mentions: [data.file("dev.tsv").path + ":3", "maybe"])
    }

    func testZeroThreadsIsAValidationError() throws {
        let model = try tinyModel("threads")
        let result = try eval(model.path, ["--threads", "0"])
        assertCleanFailure(result, mentions: ["--threads"])
        // ArgumentParser's validation failures exit 64 (EX_USAGE) and show the usage line.
        XCTAssertEqual(result.status, 64, result.summary)
        XCTAssertTrue(result.stderr.contains("Usage:"), result.summary)
    }
}
