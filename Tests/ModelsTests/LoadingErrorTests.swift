import Foundation
import Models
import Weights
import TestSupport
import XCTest

/// A broken model folder must give an error naming the file and the tensor, never a crash.
final class LoadingErrorTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "zofinetune-loading-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // Start from a valid tiny model; each test breaks one thing.
        for file in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: Repo.fixture("tiny-llama") + "/" + file, toPath: folder + "/" + file)
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    func loadError() -> String {
        do {
            _ = try ModelLoader.loadDecoder(directory: folder)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func editConfig(_ edit: (inout [String: Any]) -> Void) throws {
        let path = folder + "/config.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
    }

    /// Rewrites model.safetensors with `transform` applied to the tensor list.
    func rewriteWeights(_ transform: (inout [(String, [Int], [Float])]) -> Void) throws {
        let path = folder + "/model.safetensors"
        let file = try SafeTensorsFile(path: path)
        var tensors = try file.tensorNames.map { ($0, try file.info($0).shape, try file.floats($0)) }
        transform(&tensors)
        let flat = tensors.flatMap { $0.2 }   // all tensors back to back, so one pointer serves all
        var offsets = [0]
        for t in tensors { offsets.append(offsets.last! + t.2.count) }
        try flat.withUnsafeBufferPointer { all in
            let entries = tensors.enumerated().map { i, t in
                SafeTensorsWriter.Entry(name: t.0, shape: t.1, data: UnsafeBufferPointer(rebasing: all[offsets[i]..<offsets[i + 1]]))
            }
            try SafeTensorsWriter.write(path: path, entries: entries)
        }
    }

    func testValidFolderLoads() throws {
        XCTAssertEqual(loadError(), "no error")
    }

    func testUnknownModelType() throws {
        try editConfig { $0["model_type"] = "gpt_neox" }
        let message = loadError()
        XCTAssertTrue(message.contains("unsupported model_type \"gpt_neox\""), message)
        XCTAssertTrue(message.contains("config.json"), message)
    }

    func testMissingConfig() throws {
        try FileManager.default.removeItem(atPath: folder + "/config.json")
        XCTAssertTrue(loadError().contains("config.json: not found"), loadError())
    }

    func testConfigMissingKey() throws {
        try editConfig { $0.removeValue(forKey: "hidden_size") }
        XCTAssertTrue(loadError().contains("missing \"hidden_size\""), loadError())
    }

    func testMissingWeightsFile() throws {
        try FileManager.default.removeItem(atPath: folder + "/model.safetensors")
        XCTAssertTrue(loadError().contains("no model.safetensors"), loadError())
    }

    func testMissingTensor() throws {
        try rewriteWeights { $0.removeAll { $0.0 == "model.layers.1.mlp.up_proj.weight" } }
        let message = loadError()
        XCTAssertTrue(message.contains("missing tensor \"model.layers.1.mlp.up_proj.weight\""), message)
        XCTAssertTrue(message.contains("model.safetensors"), message)
    }

    func testShapeMismatch() throws {
        // The config says 3 layers of hidden 64; a q_proj of the wrong width must be refused.
        try rewriteWeights { tensors in
            let i = tensors.firstIndex { $0.0 == "model.layers.0.self_attn.q_proj.weight" }!
            tensors[i] = (tensors[i].0, [32, 64], [Float](repeating: 0, count: 32 * 64))
        }
        let message = loadError()
        XCTAssertTrue(message.contains("model.layers.0.self_attn.q_proj.weight"), message)
        XCTAssertTrue(message.lowercased().contains("shape"), message)
    }

    func testUnexpectedTensor() throws {
        try rewriteWeights { $0.append(("model.layers.0.extra.weight", [4], [1, 2, 3, 4])) }
        let message = loadError()
        XCTAssertTrue(message.contains("\"model.layers.0.extra.weight\" is not a parameter"), message)
    }
}
