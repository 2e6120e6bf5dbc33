// libFuzzer targets over the engine's real readers: every input must end in a value or a thrown
// error, never a trap, a crash or (under AddressSanitizer) an out-of-bounds access. As in
// safetensors' fuzz/fuzz_targets/fuzz_target_1.rs: "parse must error, never panic".
//
// FuzzSupport holds the targets (`fuzzTargets`), so the test suite replays the committed seeds and
// crash inputs through exactly the code libFuzzer runs (TrainingTests/FuzzCorpusReplayTests).
// One executable, the format chosen by $FUZZ_TARGET (see `fuzzTargets`), so the sanitizer build —
// several minutes on 2 cores — is made once. Built only when ZOFINETUNE_FUZZ=1 (Package.swift):
//   ZOFINETUNE_FUZZ=1 swift build -c release -Xswiftc -DFUZZING --sanitize=fuzzer --sanitize=address \
//       -Xswiftc -sanitize=fuzzer,address --build-path .build-fuzz --product zofinetune-fuzz
// (tools/check/fuzz.sh says why the combined flag is needed)
// tools/check/fuzz.sh runs it; without -DFUZZING (`zofinetune-fuzz TARGET FILES…`) it replays inputs.

import Foundation
import Models
import Tasks
import Tokenizers
import Training
import Weights

#if canImport(Glibc)
import Glibc
#endif

/// A scratch folder per process (in /dev/shm when there is one: writing a file per input to a disk
/// made the file targets 100× slower than the in-memory ones): the readers take paths, so each
/// input is written to a file first.
public let fuzzScratch: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = base + "/zf-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()

/// Writes `bytes` to `scratch/name` (plain open/write/close: no atomic rename, no fsync) and returns the path.
func file(_ name: String, _ bytes: Data) -> String {
    let path = fuzzScratch + "/" + name
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { fatalError("cannot write \(path)") }
    bytes.withUnsafeBytes { b in
        var done = 0
        while done < b.count {
            let n = write(fd, b.baseAddress! + done, b.count - done)
            if n <= 0 { break }
            done += n
        }
    }
    close(fd)
    return path
}

/// A tiny task for the data-file targets: the SST-2 template over `sentence` / `label`.
let sst2Spec: TaskSpec? = try? TaskSpec.parse(Data("""
    {"template": "{sentence} It was", "labels": {"0": " terrible", "1": " great"}, "label_column": "label"}
    """.utf8), path: "fuzz-task.json")

/// Each target: name → what it does with one input. All errors are caught: only a crash fails.
public let fuzzTargets: [String: (Data) -> Void] = [
    // The safetensors header and file: parse, then read every float tensor of modest size.
    "safetensors": { bytes in
        guard let f = try? SafeTensorsFile(path: file("model.safetensors", bytes)) else { return }
        for name in f.tensorNames {
            guard let info = try? f.info(name), info.count <= 1 << 20 else { continue }
            var out = [Float](repeating: 0, count: info.count)
            out.withUnsafeMutableBufferPointer { _ = try? f.read(name, into: $0, expectedShape: info.shape) }
        }
        _ = try? f.verifyChecksum(required: false)
    },
    // config.json: the decoder and encoder readers, then (small configs) the model's layout,
    // arena and RoPE tables as loading would build them.
    "config": { bytes in
        if let c = try? DecoderConfig.decode(bytes, path: "config.json"), DecoderModel.parameterCount(config: c) <= 1 << 20 {
            let arena = DecoderModel.makeArena(config: c)
            _ = try? DecoderModel(config: c, arena: arena, maxPositions: 64)
        }
        if let c = try? EncoderConfig.decode(bytes, path: "config.json"), EncoderModel.parameterCount(config: c) <= 1 << 20 {
            _ = EncoderModel(config: c, arena: EncoderModel.makeArena(config: c), prefix: "")
        }
    },
    // Tokenizer files: load, then encode and decode a sentence.
    "tokenizer.model": { bytes in tokenize(try? SentencePieceTokenizer(modelPath: file("tokenizer.model", bytes))) },
    "vocab.txt": { bytes in tokenize(try? WordPieceTokenizer(vocabularyPath: file("vocab.txt", bytes))) },
    "tokenizer.json": { bytes in tokenize(try? ByteLevelBPETokenizer(path: file("tokenizer.json", bytes))) },
    // Task data in each format, read as a table and turned into SST-2 examples and prompts.
    "tsv": { bytes in examples(file("train.tsv", bytes)) },
    "csv": { bytes in examples(file("train.csv", bytes)) },
    "jsonl": { bytes in examples(file("train.jsonl", bytes)) },
    // A task file: parse, build its prompt, render it for one example.
    "task": { bytes in
        guard let spec = try? TaskSpec.parse(bytes, path: "task.json"), let prompt = try? TaskPrompt(spec: spec, origin: "task.json")
        else { return }
        let example = LabeledExample(text: "a fine film", label: 0, fields: ["sentence": .text("a fine film"), "label": .text("0")])
        _ = try? prompt.text(for: example)
        _ = try? prompt.candidateTexts(for: example)
    },
    // A run folder: run.json, or log.jsonl beside a valid run.json.
    "run.json": { bytes in
        let folder = fuzzScratch + "/run"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        _ = file("run/run.json", bytes)
        _ = file("run/log.jsonl", Data())
        if let run = try? RunFolder(path: folder) { _ = try? run.stepCount() }
    },
    "log.jsonl": { bytes in
        let folder = fuzzScratch + "/log"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: folder + "/run.json") {
            let manifest = RunManifest(baseModel: "/nonexistent", baseFingerprint: "0", config: TrainingConfig(), threads: 1)
            _ = try? RunFolder.create(path: folder, manifest: manifest)
        }
        _ = file("log/log.jsonl", bytes)
        guard let run = try? RunFolder(path: folder) else { return }
        _ = try? run.steps()
        _ = try? run.stepCount()
        _ = try? RunReplay.bestSteps(run)
    },
    // A run folder's config and log replayed onto a tiny model, as resume, eval --run and export do
    // (RunReplayTarget.swift).
    "run.replay": replayRun,
]

func tokenize(_ tokenizer: Tokenizer?) {
    guard let tokenizer else { return }
    if let ids = try? tokenizer.encode("Hello, world! It was great — naïve café 123") { _ = try? tokenizer.decode(ids) }
}

func examples(_ path: String) {
    guard let table = try? DataFiles.read(path: path), let spec = sst2Spec else { return }
    guard let examples = try? TaskExamples.examples(of: table, spec: spec), let prompt = try? TaskPrompt(spec: spec, origin: "fuzz")
    else { return }
    for e in examples.prefix(4) { _ = try? prompt.text(for: e) }
}

