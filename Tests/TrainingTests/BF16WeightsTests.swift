import Foundation
import Models
import Optimizers
import Tensors
import TestSupport
import Training
import Weights
import XCTest

/// `--weights bf16` (docs/weights-16bit.md) on the tiny Gemma-3 fixtures: a BF16 file loads bit for
/// bit; the forward from bf16 weights stays close to f32's; MeZO at lr 0 keeps every bit over
/// 1,000 steps (its forwards read θ ± εz without writing θ); replay and resume are bitwise.
final class BF16WeightsTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    override func setUpWithError() throws {
        try XCTSkipUnless(BF16Linear.isSupported, "bf16 products need AVX512_BF16")
    }

    func tiny(_ format: WeightFormat, fixture: String = "tiny-gemma3") throws -> DecoderModel {
        try ModelLoader.loadDecoder(directory: Repo.fixture(fixture), maxPositions: 64, weights: format)
    }

    /// Every element's bits: the bf16 halves, then the f32 part.
    func bits(_ arena: ParameterArena) -> [UInt32] {
        (0..<arena.halfCount).map { UInt32(arena.halves![$0]) } + (0..<arena.floatCount).map { arena.storage[$0].bitPattern }
    }

    /// The batch of MeZOTests: 6 random prompts, labels over candidates 5 and 9 (vocab 128).
    func objective(_ model: DecoderModel) -> (CandidateObjective, PackedBatch, [Int]) {
        var rng = SplitMix64(seed: 42)
        let prompts = (0..<6).map { i in [Int32(2)] + (0..<(4 + i)).map { _ in Int32(rng.next() % 120) + 4 } }
        let batch = PackedBatch(sequences: prompts)
        return (CandidateObjective(model: model, candidates: [5, 9], maxTokens: batch.tokenCount), batch, [0, 1, 0, 1, 1, 0])
    }

    func rows(_ batch: PackedBatch) -> [Int32] { Array(Set(batch.tokens + [5, 9])).sorted() }

    /// A BF16 checkpoint's tensors land in the arena with the bits torch wrote (bits.safetensors):
    /// matrices and the embedding as bf16, norms widened exactly to f32. 2 bytes per matrix element.
    func testLoadingABF16FileIsBitExact() throws {
        let dir = Repo.fixture("tiny-gemma3-bf16")
        let (format, why) = try ModelLoader.weightFormat(directory: dir, requested: nil)
        XCTAssertEqual(format, .bf16, why)
        XCTAssertEqual(try ModelLoader.weightFormat(directory: Repo.fixture("tiny-gemma3"), requested: nil).0, .f32)
        let model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 64, weights: format)
        let expected = try SafeTensorsFile(path: dir + "/bits.safetensors")
        var halfElements = 0
        for slot in model.arena.slots {
            let want = try expected.floats(slot.name).map { UInt16($0) }
            if slot.isHalf {
                halfElements += slot.count
                XCTAssertEqual(Array(UnsafeBufferPointer(start: model.arena.halfPointer(slot), count: slot.count)), want, slot.name)
            } else {
                XCTAssertEqual(Array(model.arena.buffer(slot)).map(\.bitPattern), want.map { UInt32($0) << 16 }, slot.name)
            }
        }
        XCTAssertGreaterThan(halfElements, model.arena.parameterCount * 9 / 10, "matrices and embedding are most of the model")
        XCTAssertLessThan(model.arena.byteCount, model.arena.parameterCount * 2 + model.arena.floatCount * 4 + 64 * model.arena.slots.count)
        // An f32 file loaded as bf16 is rounded to nearest even: the same bits torch's .to(bfloat16) gives.
        let rounded = try tiny(.bf16)
        XCTAssertEqual(bits(rounded.arena).prefix(rounded.arena.halfCount), bits(model.arena).prefix(model.arena.halfCount))
    }

    /// Logits of the reference batch from bf16 weights against f32 weights, on the tiny fixtures
    /// with every architecture quirk (Gemma's norms and softcaps, Llama, Qwen2's biases): full
    /// logits (bf16 products, activations rounded to bf16 too) within 5% of the logits' range,
    /// candidate logits likewise (measured: Gemma 2.9%, Llama 0.8%, Qwen2 0.7%: Gemma's four norms
    /// per block and √C embedding scale amplify the rounding of its random tiny weights).
    func testBF16LogitsStayCloseToF32() throws {
        for name in ["tiny-gemma3", "tiny-llama", "tiny-qwen2"] {
            let f32 = try TinyFixture(name)
            let model16 = try ModelLoader.loadDecoder(directory: Repo.fixture(name), weights: .bf16)
            let N = f32.batch.tokenCount
            let ws32 = DecoderWorkspace(config: f32.model.config, maxTokens: N)
            let ws16 = DecoderWorkspace(config: model16.config, maxTokens: N)
            let a = f32.model.logits(hidden: f32.model.forward(f32.batch, workspace: ws32), rows: N)
            let b = model16.logits(hidden: model16.forward(f32.batch, workspace: ws16), rows: N)
            let range = a.map(abs).max()!
            let worst = zip(a, b).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 0.05 * range, "\(name): max |Δlogit| \(worst) of range \(range)")
            XCTAssertGreaterThan(worst, 0, "\(name): bf16 must differ from f32 somewhere (else the test reads f32)")
            let c32 = f32.model.candidateLogits(hidden: f32.model.forward(f32.batch, workspace: ws32), rows: N, candidates: [5, 9, 17])
            let c16 = model16.candidateLogits(hidden: model16.forward(f32.batch, workspace: ws16), rows: N, candidates: [5, 9, 17])
            let cworst = zip(c32, c16).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(cworst, 0.05 * range, "\(name): candidate logits differ by \(cworst)")
            print("\(name): bf16 vs f32 logits: max |Δ| \(worst), range \(range); candidates \(cworst)")
        }
    }

    /// MeZO on bf16 weights at lr 0, 1,000 steps (Rademacher z on the batch's rows, and Gaussian z
    /// over every row, q = 2): every weight keeps its bits, though each step's two forwards saw
    /// different weights (L+ ≠ L−).
    func testThousandStepsAtLearningRateZeroKeepEveryBit() throws {
        for (perturbation, sparse, q, steps) in [(Perturbation.rademacher, true, 1, 1000), (.gaussian, false, 2, 200)] {
            let model = try tiny(.bf16)
            let start = bits(model.arena)
            let (objective, batch, labels) = objective(model)
            let mezo = MeZO(arena: model.arena, eps: 1e-3, weightDecay: 0.1, perturbation: perturbation, threads: 2)
            var moved = 0
            for step in 0..<steps {
                let seeds = (0..<q).map { SeedSchedule.seed(run: 3, step: step, perturbation: $0) }
                let r = mezo.step(step, seeds: seeds, embeddingRows: sparse ? rows(batch) : nil, lr: 0) {
                    objective.loss(batch, labels: labels)
                }
                if r.lossPlus != r.lossMinus { moved += 1 }
            }
            XCTAssertEqual(moved, steps, "\(perturbation): every step's forwards must read θ + εz and θ − εz")
            XCTAssertTrue(bits(model.arena) == start, "\(perturbation): lr 0 changed the weights")
            XCTAssertNil(model.arena.readPerturbation)
        }
    }

    /// A bf16 run replays bitwise from its log (JSON round trip, other thread count), and a run
    /// resumed from a snapshot (BF16 tensors written and read back) ends with the bits of the
    /// uninterrupted run.
    func testReplayAndResumeAreBitwise() throws {
        for (perturbation, q, wd, sparse) in [(Perturbation.rademacher, 1, Float(0), true), (.gaussian, 2, Float(0.1), false)] {
            let mode = "\(perturbation) q=\(q) wd=\(wd) sparse=\(sparse)"
            func train(_ model: DecoderModel, _ steps: Range<Int>) -> [MeZOStep] {
                let (objective, batch, labels) = objective(model)
                let mezo = MeZO(arena: model.arena, eps: 1e-3, weightDecay: wd, perturbation: perturbation, threads: 2)
                return steps.map { step in
                    let seeds = (0..<q).map { SeedSchedule.seed(run: 11, step: step, perturbation: $0) }
                    return mezo.step(step, seeds: seeds, embeddingRows: sparse ? rows(batch) : nil, lr: 3e-2) {
                        objective.loss(batch, labels: labels)
                    }
                }
            }
            let run = try tiny(.bf16)
            let base = bits(run.arena)
            let records = train(run, 0..<30)
            let trained = bits(run.arena)
            let changed = zip(base, trained).filter { $0 != $1 }.count
            XCTAssertGreaterThan(changed, base.count / 20, "\(mode): the run must move the weights (\(changed) elements did)")

            let logged = try records.map { try JSONDecoder().decode(MeZOStep.self, from: JSONEncoder().encode($0)) }
            let fresh = try tiny(.bf16)
            let replayer = MeZO(arena: fresh.arena, eps: 1e-3, weightDecay: wd, perturbation: perturbation, threads: 1)
            for r in logged { replayer.replay(r) }
            XCTAssertTrue(bits(fresh.arena) == trained, "\(mode): replay differs from the run")

            let first = try tiny(.bf16)
            _ = train(first, 0..<15)
            let snapshot = FileManager.default.temporaryDirectory.appendingPathComponent("bf16-resume-\(getpid()).safetensors").path
            defer { try? FileManager.default.removeItem(atPath: snapshot) }
            try SafeTensorsWriter.write(path: snapshot, entries: first.arena.entries, checksum: true)
            XCTAssertEqual(try SafeTensorsFile(path: snapshot).storedDType("model.layers.0.mlp.up_proj.weight"), "BF16")
            let resumed = try tiny(.bf16)
            try resumed.arena.load(from: [try SafeTensorsFile(path: snapshot)])
            XCTAssertTrue(bits(resumed.arena) == bits(first.arena), "\(mode): the snapshot does not read back bitwise")
            let rest = train(resumed, 15..<30)
            XCTAssertEqual(rest, Array(records[15...]), "\(mode): the resumed steps differ")
            XCTAssertTrue(bits(resumed.arena) == trained, "\(mode): resume differs from the uninterrupted run")
        }
    }

    /// What 16-bit weights cannot train is refused before loading, naming the optimizer.
    func testRefusals() throws {
        var config = TrainingConfig()
        config.weights = .bf16
        for o in [TrainingConfig.Optimizer.mezo, .zoSign] {
            config.optimizer = o
            XCTAssertNoThrow(try config.checkWeightFormat(encoder: false))
        }
        for o in TrainingConfig.Optimizer.allCases where !TrainingConfig.bf16Optimizers.contains(o) {
            config.optimizer = o
            XCTAssertThrowsError(try config.checkWeightFormat(encoder: false)) { error in
                XCTAssertTrue("\(error)".contains("--optimizer \(o.rawValue)") && "\(error)".contains("--weights f32"), "\(error)")
            }
        }
        config.optimizer = .mezo
        XCTAssertThrowsError(try config.checkWeightFormat(encoder: true))
        XCTAssertThrowsError(try ModelLoader.weightFormat(directory: Repo.fixture("tiny-gemma3"), requested: .f16)) { error in
            XCTAssertTrue("\(error)".contains("f16"), "\(error)")
        }
    }
}
