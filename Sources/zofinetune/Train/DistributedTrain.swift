import ArgumentParser
import Cluster
import Foundation
import Models
import Optimizers
import Tasks
import Tensors
import Tokenizers
import Training

/// `train --distributed data|pipeline` under `mpirun`: which rank opens what. Rank 0 creates or
/// resumes the run folder exactly as a single process does; the other ranks then open the same
/// folder (it must be visible to every rank: one machine, or a shared filesystem as MPI clusters
/// have) and load the same weights, so every rank starts from the same bits.
extension TrainCommand {
    func openRun(prompt: TaskPrompt, trainRows: Int, communicator: Communicator) throws -> (TrainingTask, RunFolder, Int) {
        // Also when bf16 is only the folder's default: the data-parallel gradient sums are f32 arenas.
        if communicator.size > 1, try ModelLoader.weightFormat(directory: modelOptions.model, requested: modelOptions.weights).0 == .bf16 {
            throw InputError("bf16 weights train in one process; distributed runs hold f32 weights (use --weights f32)")
        }
        if communicator.isRoot {
            let opened = try openRun(prompt: prompt, trainRows: trainRows)
            _ = try communicator.broadcast(Array(opened.1.path.utf8))
            return opened
        }
        let path = String(decoding: try communicator.broadcast([]), as: UTF8.self)
        let run = try RunFolder(path: path)
        let (task, done) = try loadTask(run: resume == nil ? nil : RunOptions(run: path, at: "last"),
                                        config: run.manifest.config, prompt: prompt)
        return (task, run, done)
    }

    /// Runs `body` on every rank; an error on any rank is printed with its rank and ends the whole
    /// job (the others would wait for it in their next collective forever).
    func onEveryRank(_ communicator: Communicator, _ body: () throws -> Void) throws {
        do {
            try body()
            communicator.finalize()
        } catch let exit as ExitCode {
            communicator.finalize()
            throw exit
        } catch {
            FileHandle.standardError.write(Data("zofinetune rank \(communicator.rank) of \(communicator.size): error: \(error)\n".utf8))
            communicator.abort(1)
        }
    }
}

extension Distribution.Mode: ExpressibleByArgument {}

extension TrainCommand {
    /// Ranks of the distributed job this process belongs to (nil: a single process). Set once,
    /// before the run's configuration is made, so a new distributed run records its micro-batch.
    nonisolated(unsafe) static var ranks: Int?

    /// Without --threads, the ranks on one machine share its cores (Open MPI tells each rank how
    /// many ranks it has beside it): two ranks on two cores run one thread each instead of four
    /// threads fighting for two cores. (A bitwise comparison with a single process needs the same
    /// thread count there: OpenBLAS splits a product's rows between its threads.)
    static func shareCores(givenThreads: Int?) {
        guard givenThreads == nil,
              let local = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init), local > 1
        else { return }
        Threads.set(max(1, ProcessInfo.processInfo.activeProcessorCount / local))
    }
}

extension TrainCommand {
    /// This rank's stage of a pipeline run: its part of the model (`PipelineModel`), the run folder
    /// (made or resumed by rank 0, as in data parallel) and, when resuming, the logged steps
    /// replayed onto its part.
    func openPipelineRun(prompt: TaskPrompt, trainRows: Int, communicator: Communicator) throws -> (TrainingTask, RunFolder, Int, PipelineModel) {
        let directory = modelOptions.model
        if try ModelLoader.weightFormat(directory: directory, requested: modelOptions.weights).0 == .bf16 {
            throw InputError("--distributed pipeline holds f32 weights; bf16 weights train in one process (use --weights f32)")
        }
        guard try modelOptions.architecture().splitsIntoPipelineStages, prompt.spec.objective == .classify else {
            throw InputError("--distributed pipeline trains a decoder on a classify task; \(directory) with \(prompt.origin) is not one")
        }
        try BLAS.load()
        Threads.set(modelOptions.threads ?? Threads.count)
        let tokenizer = try TokenizerLoader.load(modelDirectory: directory)
        let stage = try PipelineStage(rank: communicator.rank, ranks: communicator.size,
                                      layerCount: try DecoderConfig.load(directory: directory).layers)
        let pipeline = try PipelineModel(directory: directory, stage: stage)
        try checkVocabularies(tokenizer: tokenizer, model: pipeline.model, directory: directory)
        let task = try ClassifyTask(model: pipeline.model, tokenizer: tokenizer, prompt: prompt)
        guard let labels = task.singleTokenLabelIDs else {
            throw InputError("\(prompt.origin): --distributed pipeline needs single-token label words, the same for every example")
        }
        try pipeline.holdHeadRows(labels)

        let run: RunFolder
        if communicator.isRoot {
            if let resume {
                run = try RunFolder(path: resume)
            } else {
                let config = newConfig(trainRows: trainRows)
                guard config.optimizer == .mezo, config.objective == .loss, config.precision == .fp32 else {
                    throw InputError("--distributed pipeline trains with --optimizer mezo, --objective loss and fp32 products")
                }
                let formatter = DateFormatter()
                formatter.dateFormat = "yyyyMMdd-HHmmss"
                let path = out ?? "runs/\(taskOptions.taskName)-\(formatter.string(from: Date()))"
                let manifest = RunManifest(baseModel: URL(fileURLWithPath: directory).standardizedFileURL.path,
                                           baseFingerprint: try pipeline.baseFingerprint(), config: config, threads: Threads.count)
                run = try RunFolder.create(path: path, manifest: manifest)
            }
            _ = try communicator.broadcast(Array(run.path.utf8))
        } else {
            run = try RunFolder(path: String(decoding: try communicator.broadcast([]), as: UTF8.self))
        }
        let config = run.manifest.config
        guard config.optimizer == .mezo else {
            throw InputError("\(run.path) is a \(config.optimizer.rawValue) run; --distributed pipeline continues MeZO runs only")
        }
        // Checked against the run before the -Ounchecked MeZO replays it (RunLogCheck).
        let records = try RunLogCheck.records(of: run, arena: pipeline.model.arena).map(\.record)
        if !records.isEmpty {
            let mezo = MeZO(arena: pipeline.model.arena, eps: config.eps, weightDecay: config.weightDecay,
                            perturbation: config.perturbation, threads: Threads.count)
            mezo.restriction = pipeline.owned
            for record in records {
                try pipeline.ensureEmbeddingRows(record.embeddingRows)
                mezo.replay(record)
            }
            if communicator.isRoot { log("\(run.path): replayed \(records.count) steps onto each stage's part") }
        }
        return (task, run, records.count, pipeline)
    }
}
