import Foundation
import Tasks
import Training
import Weights
import XCTest

/// The training loop's ETA with a fake clock: a task whose forward passes and dev evaluations
/// advance the clock by set amounts (a MeZO step: two forwards; SST-2 dev on Gemma-3-270M costs
/// about 60 steps), run through the real `Trainer` for 200 steps. The ETA printed after the first
/// step must be within 20% of the time the run then really took on the fake clock.
final class TrainingProgressTests: XCTestCase {
    /// A fake clock the fake task advances.
    final class FakeClock: @unchecked Sendable {
        var now = 1000.0
    }

    /// A task with an 8-parameter arena whose loss and evaluation take fake time: the first forward
    /// slower (weights paged in), then each forward `forward` seconds ± 10%, each evaluation `evaluation` s.
    final class TimedTask: TrainingTask {
        let arena = ParameterArena(specs: [ParameterSpec("w", [8], .matrix)])
        let clock: FakeClock
        let forward: Double, evaluation: Double
        var forwards = 0

        init(clock: FakeClock, forward: Double, evaluation: Double) {
            (self.clock, self.forward, self.evaluation) = (clock, forward, evaluation)
        }

        func inputs(_ examples: [LabeledExample]) throws -> [[Int32]] { examples.map { _ in [1, 2, 3] } }
        func prepare(maxTokens: Int) throws {}
        func loss(_ inputs: [[Int32]], labels: [Int]) -> Float {
            forwards += 1
            let jitter = 1 + 0.1 * sin(Double(forwards) * 1.7)
            clock.now += forwards <= 2 ? forward * 1.3 : forward * jitter
            return 0.5
        }
        func lossTerms(_ inputs: [[Int32]], labels: [Int]) -> [Double] { inputs.map { input in Double(loss([input], labels: [0])) } }
        func lossDivisor(_ inputs: [[Int32]]) -> Double { Double(inputs.count) }
        func embeddingRows(_ inputs: [[Int32]]) -> [Int32]? { nil }
        func makeBackprop(maxTokens: Int) -> ([[Int32]], [Int], ParameterArena) -> Float { fatalError("MeZO only") }
        func evaluate(_ examples: [LabeledExample]) throws -> (accuracy: Double, seconds: Double) {
            clock.now += evaluation
            return (0.5, evaluation)
        }
    }

    func testETAAfterTheFirstStepIsWithin20PercentOnA200StepRun() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("zf-progress-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let clock = FakeClock()
        let task = TimedTask(clock: clock, forward: 0.23, evaluation: 27)
        var config = TrainingConfig()
        config.steps = 200
        config.evalEvery = 50
        config.batchSize = 4
        config.trainExamples = 16
        let examples = (0..<32).map { LabeledExample(text: "example \($0)", label: $0 % 2) }
        let run = try RunFolder.create(path: scratch, manifest: RunManifest(baseModel: "fake", baseFingerprint: "fake", config: config, threads: 1))

        var lines: [(time: Double, text: String)] = []
        let trainer = try Trainer(task: task, config: config, run: run, train: examples, dev: Array(examples.prefix(8)),
                                  threads: 1, stopRequested: { false }, log: { _ in })
        trainer.clock = { clock.now }
        trainer.progress = ProgressLine(isTerminal: false, plainInterval: 5, clock: { clock.now }) { lines.append((clock.now, $0)) }
        _ = try trainer.train(from: 0)
        let end = clock.now

        guard let first = lines.first(where: { $0.text.hasPrefix("step 1/200 ") }) else {
            return XCTFail("no progress line after the first step: \(lines.map(\.text))")
        }
        let eta = try XCTUnwrap(Self.seconds(ofETAIn: first.text), first.text)
        let remaining = end - first.time
        print("after step 1: \(first.text.trimmingCharacters(in: .newlines)); really remaining \(remaining) s")
        XCTAssertLessThanOrEqual(abs(eta - remaining) / remaining, 0.2, "ETA \(eta) s against \(remaining) s: \(first.text)")
        // The rate shown is training steps only: about 1 / (2 × 0.23 × 1.3) after the slow first step.
        XCTAssertTrue(first.text.contains(" 1.67 steps/s"), first.text)
        // Plain lines (not a terminal): no carriage returns, and not one per step.
        XCTAssertFalse(lines.contains { $0.text.contains("\r") })
        XCTAssertLessThan(lines.count, 100)
    }

    /// Seconds of "ETA 1h02m" / "ETA 3m05s" in a progress line.
    static func seconds(ofETAIn line: String) -> Double? {
        guard let range = line.range(of: #"ETA (\d+)([hm])(\d+)([ms])"#, options: .regularExpression) else { return nil }
        let parts = line[range].dropFirst(4).split(whereSeparator: { $0 == "h" || $0 == "m" || $0 == "s" }).compactMap { Double($0) }
        guard parts.count == 2 else { return nil }
        return line[range].contains("h") ? parts[0] * 3600 + parts[1] * 60 : parts[0] * 60 + parts[1]
    }

    /// On a terminal: the line is rewritten in place, a message goes above it and the line is drawn again.
    func testTerminalLineIsRewrittenInPlaceWithMessagesAbove() {
        var out = ""
        var now = 0.0
        let line = ProgressLine(isTerminal: true, clock: { now }) { out += $0 }
        line.update("step 1/3")
        now += 1
        line.update("step 2/3")
        line.message("step 2: dev accuracy 80.00%")
        now += 0.01
        line.update("step 3/3")          // within 0.1 s of the last drawing: kept, drawn by finish()
        line.finish()
        XCTAssertEqual(out, "\rstep 1/3\u{1B}[K\rstep 2/3\u{1B}[K\r\u{1B}[Kstep 2: dev accuracy 80.00%\nstep 2/3\u{1B}[K"
                       + "\rstep 3/3\u{1B}[K\n")
    }

    func testEstimateCountsTheEvaluationsStillToCome() {
        var e = ProgressEstimate(totalSteps: 120, evalEvery: 50)
        XCTAssertEqual(e.evaluationsRemaining(after: 0), 3)    // at 50, 100 and the last step, 120
        XCTAssertEqual(e.evaluationsRemaining(after: 50), 2)
        XCTAssertEqual(e.evaluationsRemaining(after: 119), 1)
        XCTAssertEqual(e.evaluationsRemaining(after: 120), 0)
        XCTAssertNil(e.remainingSeconds(after: 0))
        e.recordStep(seconds: 2)       // slow first step
        e.recordEvaluation(seconds: 30)
        XCTAssertEqual(e.remainingSeconds(after: 1)!, 119 * 2 + 3 * 30, accuracy: 1e-9)
        e.recordStep(seconds: 1)       // from now on the first step is left out of the mean
        XCTAssertEqual(e.remainingSeconds(after: 2)!, 118 * 1 + 3 * 30, accuracy: 1e-9)
    }
}
