import Foundation
import Weights

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// weights-last and the optimizer state are two files, so no single rename can replace both. A
/// kill between the two writes used to leave weights after step s beside an optimizer after step
/// p (tools/check/kill_harness.py found it: "the run cannot be resumed exactly"). `saveLast` keeps the
/// previous optimizer state until the new weights are in place, so at every instant some
/// optimizer file matches weights-last.
extension RunFolder {
    /// The optimizer state of the previous `saveLast`, kept while a new pair is being written.
    public var previousOptimizerStatePath: String { path + "/optimizer-previous.safetensors" }

    /// Saves weights-last and `state` after `steps` steps: (1) the current optimizer file becomes
    /// optimizer-previous (matching the current weights-last), (2) the new optimizer state, (3) the
    /// new weights, (4) optimizer-previous is removed. Killed after (1), (2) or (3), resume finds
    /// the pair in (weights-last, optimizer-previous) or (weights-last, optimizer-last).
    public func saveLast(arena: ParameterArena, state: [String: ParameterArena], steps: Int) throws {
        let fm = FileManager.default
        if !state.isEmpty, fm.fileExists(atPath: optimizerStatePath) {
            guard rename(optimizerStatePath, previousOptimizerStatePath) == 0 else {
                throw RunError("\(optimizerStatePath): cannot keep it as \(previousOptimizerStatePath) (\(String(cString: strerror(errno))))")
            }
            try AtomicFile.syncDirectory(path)
        }
        try saveOptimizerState(state, steps: steps)
        try saveSnapshot("last", arena: arena, steps: steps)
        if fm.fileExists(atPath: previousOptimizerStatePath) {
            try fm.removeItem(atPath: previousOptimizerStatePath)
            try AtomicFile.syncDirectory(path)
        }
    }

    /// The optimizer file holding `steps` steps with a good checksum: optimizer-last, or
    /// optimizer-previous when a kill interrupted `saveLast` — which then becomes optimizer-last
    /// again, so the next `saveLast` cannot rotate a stale file over it.
    func optimizerStateFile(steps: Int) throws -> SafeTensorsFile {
        func holds(_ path: String) -> SafeTensorsFile? {
            guard let file = try? SafeTensorsFile(path: path), file.metadata["steps"].flatMap(Int.init) == steps,
                  (try? verifiedOnce(file)) != nil else { return nil }
            return file
        }
        if let file = holds(optimizerStatePath) { return file }
        if holds(previousOptimizerStatePath) != nil {
            guard rename(previousOptimizerStatePath, optimizerStatePath) == 0 else {
                throw RunError("\(previousOptimizerStatePath): cannot restore it as \(optimizerStatePath) (\(String(cString: strerror(errno))))")
            }
            try AtomicFile.syncDirectory(path)
            if let file = holds(optimizerStatePath) { return file }
        }
        let file = try SafeTensorsFile(path: optimizerStatePath)
        try verifiedOnce(file)
        return file   // holds another step: the caller says so
    }
}
