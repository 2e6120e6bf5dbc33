// The fuzz target over what `train --resume`, `eval --run` and `export` do with a run folder
// before anything else: open run.json (range-checked), check log.jsonl against the run and
// replay it onto the tiny Qwen3 fixture's weights (or its LoRA / prefix adapters), at the last
// step, the best one and step 1, then merge LoRA adapters as export does. Every optimizer's
// replay runs here, in the -Ounchecked Optimizers module: a record that passed the checks but
// still writes out of bounds is what AddressSanitizer reports.

import Foundation
import Models
import Tensors
import Training

/// The tiny model every replayed run is based on (Tests/Fixtures/tiny-qwen3-bpe, found beside
/// this file so the target runs from any folder), and its weights' fingerprint.
let replayBase: (directory: String, fingerprint: String)? = {
    let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fixtures/tiny-qwen3-bpe").standardizedFileURL.path
    guard (try? BLAS.load()) != nil, let model = try? ModelLoader.loadDecoder(directory: directory, maxPositions: 64) else { return nil }
    return (directory, model.arena.fingerprint(threads: 1))
}()

/// Replays that reached their point (the corpus replay test checks the seeds are replayed, not refused).
nonisolated(unsafe) public var fuzzReplaysCompleted = 0

/// Input: run.json's "config" object, a NUL byte, then log.jsonl (the seeds are the tiny base
/// runs of tools/check/run_folder_edits.py: every optimizer, LoRA and prefix). The base model and its
/// fingerprint are filled in, so mutations reach the replay rather than the fingerprint check.
func replayRun(_ bytes: Data) {
    guard let base = replayBase else { return }
    let parts = bytes.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
    let config = parts.first ?? Data(), log = parts.count > 1 ? parts[1] : Data()
    let folder = fuzzScratch + "/replay"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    var manifest = Data(#"{"version": 1, "threads": 1, "base_model": "\#(base.directory)", "base_fingerprint": "\#(base.fingerprint)", "config": "#.utf8)
    manifest.append(config)
    manifest.append(Data("}".utf8))
    _ = file("replay/run.json", manifest)
    _ = file("replay/log.jsonl", Data(log))
    guard let run = try? RunFolder(path: folder) else { return }
    for point in [RunPoint.last, .best, .steps(1)] {
        guard let (model, _) = try? RunReplay.load(run: run, modelDirectory: base.directory, point: point, threads: 1) else { continue }
        fuzzReplaysCompleted += 1
        try? model.mergeLoRA()
    }
}
