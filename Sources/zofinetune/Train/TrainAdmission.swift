import ArgumentParser
import Foundation
import Models
import Profiling
import Tasks
import Tokenizers
import Training

extension TrainCommand {
    /// Refuses a backprop run whose predicted peak exceeds the memory available (MemAvailable, or
    /// --memory-limit), before the model is loaded (`MemoryAdmission`). The batch the plan is
    /// computed for is made of the `batchSize` longest training texts, so no batch of the run is
    /// larger. Decoders only: encoders (MiniLM-sized) train with backprop in well under 1 GB.
    func admit(prompt: TaskPrompt, train: [LabeledExample]) throws {
        var config = try resume.map { try RunFolder(path: $0).manifest.config } ?? newConfig(trainRows: train.count)
        guard config.optimizer.usesBackprop, try modelOptions.architecture().hasBackpropMemoryPlan else { return }
        // The plan holds the weights as the run will (a resumed run: as recorded); backprop on bf16
        // weights is refused for that reason (`checkWeightFormat`), not for its memory.
        if resume == nil { config.weights = try ModelLoader.weightFormat(directory: modelOptions.model, requested: modelOptions.weights).0 }
        try config.checkWeightFormat(encoder: false)
        let name = config.peft == .none ? config.optimizer.rawValue : "\(config.peft.rawValue)-\(config.optimizer.rawValue)"
        guard let method = ProfileMethod(rawValue: name) else { return }
        let (available, source): (Int?, String) = memoryLimit.map { (Int($0 * 1e9), "--memory-limit") }
            ?? (ProcessMemory.availableBytes, "MemAvailable in /proc/meminfo")
        guard let available else { return }
        let decoder = try DecoderConfig.load(directory: modelOptions.model)
        let longest = train.sorted { $0.text.utf8.count > $1.text.utf8.count }
        // A task the profile workload cannot pose (chat) is not checked here: it is still loaded and run.
        guard let batch = try? ProfileBatch.make(examples: Array(longest.prefix(config.batchSize)), batchSize: config.batchSize,
                                                 task: taskOptions.runTask(prompt), prompt: prompt,
                                                 tokenizer: TokenizerLoader.load(modelDirectory: modelOptions.model)) else { return }
        let sequences = batch.sequences.count
        do {
            try MemoryAdmission.check(method: method, tokens: batch.rowCount, batchSize: config.batchSize,
                                      weights: config.weightFormat, available: available, limitSource: source) {
                MemoryPlan.predict(config: decoder, method: $0, tokens: $1, sequences: sequences, weights: $2)
            }
        } catch let refusal as MemoryAdmission.Refusal {
            throw InputError("\(modelOptions.model): \(refusal.description)")
        }
    }
}
