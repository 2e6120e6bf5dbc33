import ArgumentParser
import Cluster
import Foundation
import Models
import Tasks
import Tensors
import Training

/// `train --distributed data|pipeline` under `mpirun`: which rank opens what. Rank 0 creates or
/// resumes the run folder exactly as a single process does; the other ranks then open the same
/// folder (it must be visible to every rank: one machine, or a shared filesystem as MPI clusters
/// have) and load the same weights, so every rank starts from the same bits.
extension TrainCommand {
    func openRun(prompt: TaskPrompt, communicator: Communicator) throws -> (TrainingTask, RunFolder, Int) {
        if communicator.isRoot {
            let opened = try openRun(prompt: prompt)
            _ = try communicator.broadcast(Array(opened.1.path.utf8))
            return opened
        }
        let path = String(decoding: try communicator.broadcast([]), as: UTF8.self)
        let run = try RunFolder(path: path)
        let isEncoder = try EncoderConfig.isEncoder(directory: modelOptions.model)
        let (task, done) = try loadTask(encoder: isEncoder, run: resume == nil ? nil : RunOptions(run: path, at: "last"),
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
    /// threads fighting for two cores. The thread count does not change a rank's bits only if the
    /// single process compared with it uses the same count.
    static func shareCores(givenThreads: Int?) {
        guard givenThreads == nil,
              let local = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init), local > 1
        else { return }
        Threads.set(max(1, ProcessInfo.processInfo.activeProcessorCount / local))
    }
}
