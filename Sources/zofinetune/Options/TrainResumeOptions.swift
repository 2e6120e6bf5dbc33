import ArgumentParser
import Foundation
import Training

extension TrainCommand {
    /// With --resume, run.json fixes the run: an option given again with the run's own value is
    /// accepted (a user often repeats the command line they started with), a different value is
    /// refused, naming both. (--steps, --eval-every and --eval-examples may change: they extend or
    /// watch the run without changing its steps.)
    func checkResumeOptions(against c: TrainingConfig, run path: String) throws {
        var changes: [String] = []
        func check<T: Equatable>(_ name: String, _ given: T?, _ saved: T?, _ show: (T) -> String = { "\($0)" }) {
            guard let given, given != saved else { return }
            changes.append("\(name) \(show(given)) (the run has \(saved.map(show) ?? "none"))")
        }
        changes += optimizerOptions.changes(against: c)
        check("--objective", objective, c.objective) { $0.rawValue }
        check("--batch-size", batchSize, c.batchSize)
        check("--peft", peftOptions.peft, c.peft) { $0.rawValue }
        check("--lora-rank", peftOptions.loraRank, c.loraRank)
        check("--lora-alpha", peftOptions.loraAlpha, c.loraAlpha)
        check("--lora-targets", try? peftOptions.targets(), c.loraTargets) { $0.map(\.rawValue).joined(separator: ",") }
        check("--prefix-tokens", peftOptions.prefixTokens, c.prefixTokens)
        check("--schedule", schedule, c.schedule) { $0.rawValue }
        check("--train-examples", trainExamples, c.kShot == nil ? c.trainExamples : nil)
        check("--k-shot", kShot, c.kShot)
        check("--seed", seed, c.seed)
        check("--micro-batch", microBatch, c.microBatch)
        if let out, URL(fileURLWithPath: out).standardizedFileURL != URL(fileURLWithPath: path).standardizedFileURL {
            changes.append("--out \(out) (the run is \(path))")
        }
        guard changes.isEmpty else {
            throw ValidationError("resuming \(path): run.json fixes these and the command changes them: "
                                  + changes.joined(separator: ", ") + ". Leave them out, or start a new run with --out")
        }
    }
}
