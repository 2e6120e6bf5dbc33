import Foundation
import Models
import Optimizers
import Tasks
import Tensors
import Tokenizers
@testable import Training
import TestSupport
import XCTest

/// The built-in task file `sst2` gives exactly the numbers of the SST-2 code it replaced (token ids,
/// losses and logits bit for bit on the real Gemma-3-270M and SST-2), and MeZO trains a loss over
/// multi-token label words.
final class TaskFileSST2Tests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func sst2Task() throws -> (TaskPrompt, [LabeledExample], [LabeledExample], String) {
        let data = try Repo.requireSST2()
        let (spec, path) = try BuiltinTasks.resolve("sst2")
        let prompt = try TaskPrompt(spec: spec, origin: path)
        let dev = try TaskExamples.load(path: DataFiles.find(directory: data, split: .dev), spec: spec)
        let train = try TaskExamples.load(path: DataFiles.find(directory: data, split: .train), spec: spec)
        return (prompt, train, dev, data)
    }

    func testSST2TaskFileGivesTheOriginalTokensLossesAndLogits() throws {
        let dir = try Repo.requireGemma()
        let (prompt, train, dev, data) = try sst2Task()
        let legacyDev = try TaskData.load(directory: data, split: .dev)
        let legacyTrain = try TaskData.load(directory: data, split: .train)
        XCTAssertEqual(dev.map(\.text), legacyDev.map(\.text))
        XCTAssertEqual(dev.map(\.label), legacyDev.map(\.label))
        XCTAssertEqual(train.map(\.label), legacyTrain.map(\.label))
        XCTAssertEqual(train.map(\.text), legacyTrain.map(\.text))

        let tokenizer = try TokenizerLoader.load(modelDirectory: dir)
        let model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 512)
        let task = try ClassifyTask(model: model, tokenizer: tokenizer, prompt: prompt)
        XCTAssertFalse(task.needsContinuationScoring, "sst2's label words are single tokens: the fast path")
        var legacy = try LegacySST2(model: model, tokenizer: tokenizer)
        let some = Array(train.prefix(5000)) + dev
        XCTAssertEqual(try task.inputs(some), try legacy.inputs(Array(legacyTrain.prefix(5000)) + legacyDev))

        // Losses of training batches, bit for bit.
        try task.prepare(maxTokens: 1024)
        try legacy.prepare(maxTokens: 1024)
        for b in 0..<3 {
            let batch = Array(train[(b * 16)..<((b + 1) * 16)])
            let inputs = try task.inputs(batch)
            let labels = batch.map(\.label)
            XCTAssertEqual(task.loss(inputs, labels: labels).bitPattern, legacy.loss(inputs, labels: labels).bitPattern)
        }
        // Dev scores, bit for bit with the original evaluator's logits.
        let first = Array(dev.prefix(96))
        let scores = try task.scores(first)
        let original = try legacy.predictions(Array(legacyDev.prefix(96)))
        XCTAssertEqual(scores.map(ClassifyTask.argmax), original)
        let candidates = legacy.candidates
        let logits = try CandidateScorer(model: model, maxTokens: 1024).candidateLogits(prompts: try task.inputs(first), candidates: candidates)
        XCTAssertEqual(scores.flatMap { $0 }.map(\.bitPattern), logits.map(\.bitPattern))
    }

    /// MeZO on a loss over multi-token and alternative label words (the continuation path) lowers it
    /// on the tiny Gemma-3, and the run replays bit for bit from its seeds.
    func testMeZOTrainsAMultiTokenLabelLoss() throws {
        func tiny() throws -> DecoderModel { try ModelLoader.loadDecoder(directory: Repo.fixture("tiny-gemma3"), maxPositions: 64) }
        let model = try tiny()
        var rng = SplitMix64(seed: 3)
        let prompts = (0..<8).map { i in [Int32(2)] + (0..<(3 + i)).map { _ in Int32(rng.next() % 120) + 4 } }
        // Three labels: two tokens; one token or two alternatives; three tokens.
        let candidates: LabelCandidates = [[[5, 6]], [[9], [11, 12]], [[20, 21, 22]]]
        let labels = [0, 1, 2, 0, 1, 2, 0, 1]
        func loss(_ m: DecoderModel) throws -> Float {
            let scorer = LabelScorer(model: m, workspace: DecoderWorkspace(config: m.config, maxTokens: 256))
            return LabelScorer.crossEntropy(try scorer.scores(prompts: prompts, candidates: prompts.map { _ in candidates }), labels: labels)
        }
        let scorer = LabelScorer(model: model, workspace: DecoderWorkspace(config: model.config, maxTokens: 256))
        let before = try loss(model)
        let mezo = MeZO(arena: model.arena, eps: 1e-3, threads: 2)
        var records: [MeZOStep] = []
        for step in 0..<300 {
            records.append(mezo.step(step, seeds: [SeedSchedule.seed(run: 5, step: step, perturbation: 0)], lr: 3e-3) {
                LabelScorer.crossEntropy(try! scorer.scores(prompts: prompts, candidates: prompts.map { _ in candidates }), labels: labels)
            })
        }
        let after = try loss(model)
        print("multi-token label loss under MeZO: \(before) → \(after) in 300 steps")
        XCTAssertLessThan(after, before * 0.8)
        let fresh = try tiny()
        let replayer = MeZO(arena: fresh.arena, eps: 1e-3, threads: 1)
        for r in records { replayer.replay(r) }
        XCTAssertEqual((0..<fresh.arena.count).map { fresh.arena.storage[$0].bitPattern },
                       (0..<model.arena.count).map { model.arena.storage[$0].bitPattern })
    }

    /// The completion objective's loss (mean cross-entropy over the target's tokens) equals
    /// transformers' `labels=` loss on the real Gemma-3-270M: 20 SST-2 prompts each followed by a
    /// 4-token target, one batch (tools/reference/reference_multitoken.py), within 1e-4.
    func testCompletionLossMatchesTransformersLabelsLoss() throws {
        let dir = try Repo.requireGemma()
        let path = try Repo.requireReference("gemma-3-270m-multitoken-logprobs.json")
        struct Reference: Decodable { let prompts: [[Int32]]; let target: [Int32]?; let labels_loss: Double? }
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        guard let target = reference.target, let expected = reference.labels_loss else {
            return XCTFail("\(path) predates the labels= loss: delete it and rerun tools/test.sh")
        }
        let tokenizer = try TokenizerLoader.load(modelDirectory: dir)
        let model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 256)
        let spec = TaskSpec(template: "{sentence|strip} It was", objective: .complete, targetColumn: "answer")
        let task = CompleteTask(model: model, tokenizer: tokenizer, prompt: try TaskPrompt(spec: spec, origin: "test"))
        try task.prepare(maxTokens: 1024)
        let inputs = reference.prompts.map { ClassifyInput.encode(prompt: $0, candidates: [[target]]) }
        let loss = task.loss(inputs, labels: [Int](repeating: -1, count: inputs.count))
        print("completion loss: \(loss), transformers labels= loss \(expected), |Δ| = \(abs(Double(loss) - expected))")
        XCTAssertEqual(Double(loss), expected, accuracy: 1e-4)
    }
}

/// The SST-2 code the task file replaced, written out here as the reference it is checked against:
/// <bos> + "{sentence} It was", the single tokens of " terrible" / " great", the two-row candidate
/// loss (`CandidateObjective`) and the first-maximum prediction over the candidates' logits.
struct LegacySST2 {
    let model: DecoderModel
    let tokenizer: Tokenizer
    let candidates: [Int32]
    var objective: CandidateObjective?

    init(model: DecoderModel, tokenizer: Tokenizer) throws {
        (self.model, self.tokenizer) = (model, tokenizer)
        candidates = try [" terrible", " great"].map { word in
            let ids = try tokenizer.encode(word)
            XCTAssertEqual(ids.count, 1, "\(word) is one token")
            return ids[0]
        }
    }

    func inputs(_ examples: [LabeledExample]) throws -> [[Int32]] {
        try examples.map { (tokenizer.bosID.map { [$0] } ?? []) + (try tokenizer.encode("\($0.text) It was")) }
    }

    /// As the training tasks size their buffers: at least `evaluationPassTokens`.
    mutating func prepare(maxTokens: Int) throws {
        objective = CandidateObjective(model: model, candidates: candidates, maxTokens: max(maxTokens, evaluationPassTokens))
    }

    func loss(_ inputs: [[Int32]], labels: [Int]) -> Float {
        LossTerms.mean(objective!.exampleLosses(PackedBatch(sequences: inputs), labels: labels), divisor: Double(inputs.count))
    }

    func predictions(_ examples: [LabeledExample]) throws -> [Int] {
        let logits = try CandidateScorer(model: model, maxTokens: 2048).candidateLogits(prompts: try inputs(examples), candidates: candidates)
        let K = candidates.count
        return (0..<examples.count).map { i in
            let row = logits[(i * K)..<(i * K + K)]
            return row.indices.max { row[$0] < row[$1] }! - i * K   // first maximum wins ties
        }
    }
}
