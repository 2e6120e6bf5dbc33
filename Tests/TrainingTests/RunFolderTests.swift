import Foundation
import Models
import Optimizers
import Tensors
import TestSupport
import Training
import Weights
import XCTest

/// Run folders on the tiny Gemma fixture: replay through the folder, export, and refusal of a
/// base model that is not the run's.
final class RunFolderTests: XCTestCase {
    var scratch: String!

    override class func setUp() { try! BLAS.load() }

    override func setUpWithError() throws {
        scratch = NSTemporaryDirectory() + "zofinetune-run-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: scratch) }

    /// A run of `steps` MeZO steps on the tiny model, logged in a run folder.
    func makeRun(steps: Int) throws -> (RunFolder, DecoderModel) { try makeTinyRun(at: scratch + "/run", steps: steps) }

    func testReplayFromTheLogIsBitwiseTheRun() throws {
        let (run, trained) = try makeRun(steps: 12)
        let (replayed, steps) = try RunReplay.load(run: try RunFolder(path: run.path), modelDirectory: nil, point: .last, threads: 1)
        XCTAssertEqual(steps, 12)
        XCTAssertTrue((0..<trained.arena.count).allSatisfy { trained.arena.storage[$0].bitPattern == replayed.arena.storage[$0].bitPattern })
        let (partial, n) = try RunReplay.load(run: run, modelDirectory: nil, point: .steps(5), threads: 2)
        XCTAssertEqual(n, 5)
        XCTAssertFalse((0..<trained.arena.count).allSatisfy { trained.arena.storage[$0] == partial.arena.storage[$0] })
    }

    /// A run.json from before --perturbation / --embedding-perturbation existed replays as those
    /// runs were made (Gaussian z, every row), not with today's defaults; a new one records both.
    func testConfigWithoutPerturbationKeysMeansTheOriginalAlgorithm() throws {
        let old = #"{"task":"sst2","optimizer":"mezo","steps":10,"lr":2e-6,"eps":0.001,"seed":0}"#
        let config = try JSONDecoder().decode(TrainingConfig.self, from: Data(old.utf8))
        XCTAssertEqual(config.perturbation, .gaussian)
        XCTAssertEqual(config.embeddingPerturbation, .all)
        let written = try JSONSerialization.jsonObject(with: JSONEncoder().encode(TrainingConfig())) as! [String: Any]
        XCTAssertEqual(written["perturbation"] as? String, "rademacher")
        XCTAssertEqual(written["embedding_perturbation"] as? String, "batch")
    }

    func testExportAfterOneStepChangesEveryTensor() throws {
        let (run, _) = try makeRun(steps: 1)
        let (model, _) = try RunReplay.load(run: run, modelDirectory: nil, point: .last, threads: 2)
        let out = scratch + "/exported"
        try HuggingFaceExport.write(arena: model.arena, baseDirectory: Repo.fixture("tiny-gemma3"), to: out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/config.json"))
        let exported = try SafeTensorsFile(path: out + "/model.safetensors")
        let base = try SafeTensorsFile(path: Repo.fixture("tiny-gemma3") + "/model.safetensors")
        XCTAssertEqual(exported.tensorNames, base.tensorNames)
        for name in base.tensorNames {
            XCTAssertNotEqual(try exported.floats(name), try base.floats(name), "\(name) is unchanged after a step")
        }
        // The export loads back as a model of the same architecture.
        XCTAssertNoThrow(try ModelLoader.loadDecoder(directory: out))
        XCTAssertThrowsError(try HuggingFaceExport.write(arena: model.arena, baseDirectory: Repo.fixture("tiny-gemma3"), to: out))
    }

    func testReplayRefusesOtherBaseWeights() throws {
        let (run, _) = try makeRun(steps: 2)
        XCTAssertThrowsError(try RunReplay.load(run: run, modelDirectory: Repo.fixture("tiny-llama"), point: .last, threads: 2))
        // Same architecture, one weight changed: the fingerprint must notice.
        let copy = scratch + "/altered"
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        let base = Repo.fixture("tiny-gemma3")
        try FileManager.default.copyItem(atPath: base + "/config.json", toPath: copy + "/config.json")
        let model = try ModelLoader.loadDecoder(directory: base)
        model.arena["model.norm.weight"][0] += 1e-3
        try SafeTensorsWriter.write(path: copy + "/model.safetensors", entries: model.arena.entries)
        XCTAssertThrowsError(try RunReplay.load(run: run, modelDirectory: copy, point: .last, threads: 2)) { error in
            XCTAssertTrue("\(error)".contains("not the base of run"), "\(error)")
        }
    }

    func testCreateRefusesAnExistingRun() throws {
        let (run, _) = try makeRun(steps: 0)
        XCTAssertThrowsError(try RunFolder.create(path: run.path, manifest: run.manifest)) { error in
            XCTAssertTrue("\(error)".contains("--resume"), "\(error)")
        }
    }

    func testTornLastLogLineIsIgnored() throws {
        let (run, _) = try makeRun(steps: 3)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: run.path + "/log.jsonl"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"type\":\"step\",\"st".utf8))
        try handle.close()
        XCTAssertEqual(try RunFolder(path: run.path).steps().count, 3)
    }

    func testTruncateKeepsTheEvaluationOfTheLastFullStep() throws {
        let (run, _) = try makeRun(steps: 3)
        try run.append(.eval(step: 3, accuracy: 0.5, examples: 4, seconds: 0))
        try run.truncateSteps(to: 3)
        XCTAssertEqual(try run.lines().filter { $0.type == "eval" }.map(\.step), [3])
        try run.truncateSteps(to: 2)
        XCTAssertEqual(try run.steps().count, 2)
        XCTAssertTrue(try run.lines().filter { $0.type == "eval" }.isEmpty)
    }
}
