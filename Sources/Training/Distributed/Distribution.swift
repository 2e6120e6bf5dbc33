import Cluster
import Foundation
import Weights

/// How a training run is spread over the ranks of an MPI job (`--distributed`). The trainer asks
/// it for the step method and whether this rank writes the run folder; everything that knows
/// about ranks lives in this folder and in the `Cluster` target.
public final class Distribution {
    public enum Mode: String, CaseIterable, Sendable {
        /// Every rank holds the whole model and evaluates its share of each batch.
        case data
        /// Rank s holds a contiguous range of layers; hidden states go rank to rank.
        case pipeline
    }

    public let mode: Mode
    public let communicator: Communicator
    /// Steps between the ranks' weight fingerprint comparisons (and after the last step).
    public let checkEvery: Int
    /// Bytes this rank sent during the steps (not the start-up and checks), for the summary.
    public private(set) var stepBytes = 0
    public private(set) var stepsCounted = 0

    /// This rank's stage (pipeline mode).
    public let pipeline: PipelineModel?

    public init(mode: Mode, communicator: Communicator, checkEvery: Int, pipeline: PipelineModel? = nil) {
        precondition((mode == .pipeline) == (pipeline != nil), "a pipeline run needs its stage's model")
        (self.mode, self.communicator, self.checkEvery, self.pipeline) = (mode, communicator, checkEvery, pipeline)
    }

    /// Rank 0 writes the run folder (log, snapshots) and runs the dev evaluations.
    public var writesRun: Bool { communicator.isRoot }

    /// Whether this rank holds every weight (data parallel), so it can evaluate and snapshot them;
    /// a pipeline stage holds its layers only, and its task's own buffers are not used.
    public var holdsWholeModel: Bool { mode == .data }

    /// The step method of this rank.
    func method(task: TrainingTask, maxTokens: Int, config: TrainingConfig, threads: Int) throws -> StepMethod {
        switch mode {
        case .data:
            if case .firstOrder(let spec) = config.optimizer.family {
                return DataParallelBackprop.wrap(BackpropMethod(spec, task: task, maxTokens: maxTokens, config: config),
                                                 communicator: communicator)
            }
            return DataParallelMeZOMethod(task: task, config: config, threads: threads, communicator: communicator)
        case .pipeline:
            guard let task = task as? ClassifyTask, let candidates = task.fixedCandidates, !config.optimizer.usesBackprop else {
                throw ClusterError("--distributed pipeline trains a decoder with MeZO on a classify task with single-token label words")
            }
            return PipelineMeZOMethod(task: task, candidates: candidates, stage: pipeline!, config: config, threads: threads,
                                      maxTokens: maxTokens, communicator: communicator)
        }
    }

    /// Counts the bytes of one step (called around each step).
    func measure<T>(_ body: () throws -> T) rethrows -> T {
        let before = communicator.bytesSent
        let result = try body()
        stepBytes += communicator.bytesSent - before
        stepsCounted += 1
        return result
    }

    /// Bytes this rank sent per step, on average over the steps taken.
    public var bytesPerStep: Double? { stepsCounted == 0 ? nil : Double(stepBytes) / Double(stepsCounted) }

    /// After step `step` (1-based count of steps done): every `checkEvery` steps and at the end,
    /// the ranks compare a fingerprint of their weights and stop with an error if any differs.
    func afterStep(_ step: Int, last: Bool, arena: ParameterArena, threads: Int) throws {
        guard communicator.size > 1, mode == .data, checkEvery > 0, step % checkEvery == 0 || last else { return }
        try WeightAgreement.check(arena: arena, afterStep: step, communicator: communicator, threads: threads)
    }
}

/// The ranks of a data-parallel run must hold the same weights after every step (same base, same
/// seeds, same gathered losses): a fingerprint allgather checks that they do.
enum WeightAgreement {
    static func check(arena: ParameterArena, afterStep step: Int, communicator: Communicator, threads: Int) throws {
        let fingerprint = arena.fingerprint(threads: threads)
        let all = try communicator.allGather(hash(fingerprint))
        guard Set(all).count == 1 else {
            let which = all.enumerated().map { String(format: "rank %d %016llx", $0.offset, $0.element) }.joined(separator: ", ")
            throw ClusterError("""
                the ranks' weights differ after step \(step) (\(which)): every rank must run the same zofinetune \
                build on the same model files with the same options (a different OpenBLAS or CPU kernel can change the bits)
                """)
        }
    }

    /// FNV-1a over the fingerprint's text: one word to compare.
    static func hash(_ text: String) -> UInt64 {
        text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}
