import Foundation
import Optimizers
import Weights

/// What `run.json` holds: the base model and the configuration. With the step records in
/// `log.jsonl` this is the whole run (docs/ARCHITECTURE.md, decision 8).
public struct RunManifest: Codable, Sendable {
    public var version = 1
    /// Absolute path of the base model folder.
    public var baseModel: String
    /// `ParameterArena.fingerprint()` of the base weights: replay refuses other weights.
    public var baseFingerprint: String
    public var config: TrainingConfig
    public var threads: Int

    public init(baseModel: String, baseFingerprint: String, config: TrainingConfig, threads: Int) {
        self.baseModel = baseModel
        self.baseFingerprint = baseFingerprint
        self.config = config
        self.threads = threads
    }

    enum CodingKeys: String, CodingKey {
        case version, config, threads
        case baseModel = "base_model"
        case baseFingerprint = "base_fingerprint"
    }
}

/// One step of a backprop run (SGD/AdamW). Unlike a MeZO record it cannot rebuild the weights:
/// those runs keep their weights (and AdamW's moments) in snapshots.
public struct GradientStep: Codable, Sendable, Equatable {
    public var step: Int
    public var loss: Float
    /// ‖∇L‖₂ before clipping.
    public var gradNorm: Double
    public var lr: Float
    /// A non-finite loss or gradient was seen: the weights were not updated.
    public var skipped: Bool

    public init(step: Int, loss: Float, gradNorm: Double, lr: Float, skipped: Bool) {
        (self.step, self.loss, self.gradNorm, self.lr, self.skipped) = (step, loss, gradNorm, lr, skipped)
    }

    enum CodingKeys: String, CodingKey {
        case step, loss, lr, skipped
        case gradNorm = "grad_norm"
    }
}

/// One line of `log.jsonl`: a step (a MeZO seed-log record, or a backprop step) or an evaluation.
public struct RunLogLine: Codable, Sendable {
    public var type: String            // "step" | "eval"
    public var step: Int
    public var record: MeZOStep?
    public var update: GradientStep?
    public var seconds: Double?
    public var accuracy: Double?
    public var examples: Int?
    /// The process's peak resident bytes (VmHWM) after the step, for `report`'s memory chart.
    public var vmhwm: Int?

    public static func step(_ r: MeZOStep, seconds: Double) -> RunLogLine {
        RunLogLine(type: "step", step: r.step, record: r, seconds: seconds)
    }

    public static func step(_ u: GradientStep, seconds: Double) -> RunLogLine {
        RunLogLine(type: "step", step: u.step, update: u, seconds: seconds)
    }

    public static func eval(step: Int, accuracy: Double, examples: Int, seconds: Double) -> RunLogLine {
        RunLogLine(type: "eval", step: step, seconds: seconds, accuracy: accuracy, examples: examples)
    }
}

/// A run folder: `run.json`, `log.jsonl` (appended and flushed every step, so an interrupted run
/// loses at most the step in flight) and optional weight snapshots that spare a long replay.
public final class RunFolder {
    public let path: String
    public private(set) var manifest: RunManifest
    private var log: FileHandle?
    /// Held while this process writes the folder (`lockForWriting`, RunFolderLock.swift).
    var writerLock: RunFolderLock?
    /// Snapshots whose checksum was verified, by path → file identity (RunFolderIntegrity.swift).
    var verifiedFiles: [String: String] = [:]

    static let manifestName = "run.json", logName = "log.jsonl"

    /// Creates a new run folder; refuses one that already holds a run.
    public static func create(path: String, manifest: RunManifest) throws -> RunFolder {
        let fm = FileManager.default
        if fm.fileExists(atPath: path + "/" + manifestName) {
            throw RunError("\(path) already holds a run; continue it with --resume \(path) or choose another --out")
        }
        try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
        // Locked before run.json exists, so two runs started with the same --out cannot both write it.
        let lock = try RunFolderLock(folder: path)
        if fm.fileExists(atPath: path + "/" + manifestName) {
            throw RunError("\(path) already holds a run; continue it with --resume \(path) or choose another --out")
        }
        try AtomicFile.removeStaleTemporaries(in: path)   // a create killed before run.json was in place
        try AtomicFile.write(try Self.encoder.encode(manifest), to: path + "/" + manifestName)
        try AtomicFile.write(Data(), to: path + "/" + logName)
        let run = try RunFolder(path: path)
        run.writerLock = lock
        return run
    }

    /// Opens an existing run folder.
    public init(path: String) throws {
        self.path = path
        let manifestPath = path + "/" + Self.manifestName
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw RunError("\(path): not a run folder (no \(Self.manifestName))")
        }
        do {
            manifest = try JSONDecoder().decode(RunManifest.self, from: data)
        } catch {
            let why = DecodingBlame.describe(error, decoding: RunManifest.self, from: data, with: JSONDecoder())
            throw RunError("\(manifestPath): unreadable run manifest: \(why)")
        }
        // The optimizer's settings, by the rules the flags are checked with (OptimizerChecks).
        try OptimizerChecks.check(manifest.config, file: manifestPath)
        // Range-checked here, once, for every command that reads a run (RunManifestCheck).
        try RunManifestCheck.check(manifest, file: manifestPath)
    }

    deinit { try? log?.close() }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return e
    }()

    /// Every line of the log, in order. A torn last line (the process died while writing it) is
    /// ignored; a bad line elsewhere is an error naming its number.
    public func lines() throws -> [RunLogLine] { try numberedLines().map(\.line) }

    /// Every line of the log with its 1-based line number in log.jsonl (for errors that name it).
    public func numberedLines() throws -> [(number: Int, line: RunLogLine)] {
        let logPath = path + "/" + Self.logName
        guard let data = FileManager.default.contents(atPath: logPath) else { return [] }
        let raw = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        var out: [(number: Int, line: RunLogLine)] = []
        for (i, line) in raw.enumerated() where !line.isEmpty {
            do {
                out.append((i + 1, try Self.lineDecoder().decode(RunLogLine.self, from: Data(line))))
            } catch {
                if i == raw.count - 1 { break }
                let why = DecodingBlame.describe(error, decoding: RunLogLine.self, from: Data(line), with: Self.lineDecoder())
                throw RunError("\(logPath):\(i + 1): unreadable log line: \(why)")
            }
        }
        return out
    }

    /// The path of log.jsonl, for messages.
    public var logPath: String { path + "/" + Self.logName }

    /// The MeZO step records, which must be 0, 1, 2, … without gaps.
    public func steps() throws -> [MeZOStep] {
        let records = try lines().compactMap(\.record)
        try Self.checkContiguous(records.map(\.step), in: path)
        return records
    }

    /// Steps logged, of any optimizer (numbered 0, 1, 2, … without gaps).
    public func stepCount() throws -> Int {
        let numbers = try lines().filter { $0.type == "step" }.map(\.step)
        try Self.checkContiguous(numbers, in: path)
        return numbers.count
    }

    private static func checkContiguous(_ steps: [Int], in path: String) throws {
        for (i, s) in steps.enumerated() where s != i {
            throw RunError("\(path)/\(logName): step \(s) found where step \(i) was expected")
        }
    }

    /// Appends one line and flushes it to the disk (fsync). A failed write (a full disk) throws an
    /// error naming the log and the line; what it left is a torn last line, which readers ignore and
    /// `truncateSteps` (on resume) drops.
    public func append(_ line: RunLogLine) throws {
        let logPath = path + "/" + Self.logName
        if log == nil {
            if !FileManager.default.fileExists(atPath: logPath) { try AtomicFile.write(Data(), to: logPath) }
            log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            try log!.seekToEnd()
        }
        var data = try Self.lineEncoder().encode(line)
        data.append(UInt8(ascii: "\n"))
        let fd = log!.fileDescriptor
        do {
            try data.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: logPath, what: "\(line.type) line of step \(line.step)") }
            guard fsync(fd) == 0 else { throw RunError("\(logPath): fsync failed (\(String(cString: strerror(errno))))") }
        } catch {
            try? log?.close()
            log = nil   // the next append reopens at the end; a resume rewrites the log first
            throw RunError("\(error)")
        }
    }

    /// Keeps the first `count` step records and the evaluations made after at most `count` steps
    /// (a resumed run continues from the last full step).
    public func truncateSteps(to count: Int) throws {
        // Step records carry their 0-based index; evaluations carry the number of steps done.
        let kept = try lines().filter { $0.type == "eval" ? $0.step <= count : $0.step < count }
        let e = Self.lineEncoder()
        var data = Data()
        for l in kept { data.append(try e.encode(l)); data.append(UInt8(ascii: "\n")) }
        try log?.close()
        log = nil
        try AtomicFile.write(data, to: path + "/" + Self.logName)
    }

    // MARK: snapshots

    /// Path of a weight snapshot; `name` is "best" or "last".
    public func snapshotPath(_ name: String) -> String { path + "/weights-\(name).safetensors" }

    /// Saves the arena after `steps` steps, tagged with the step count, base fingerprint and a
    /// checksum of the data (written atomically). Refuses weights that hold a NaN or infinity.
    public func saveSnapshot(_ name: String, arena: ParameterArena, steps: Int) throws {
        try arena.requireFinite(what: "\(snapshotPath(name)) after \(steps) steps")
        try SafeTensorsWriter.write(path: snapshotPath(name), entries: arena.entries,
                                    metadata: ["steps": String(steps), "base_fingerprint": manifest.baseFingerprint],
                                    checksum: true)
    }

    /// The number of steps a snapshot holds, if it exists, belongs to this run's base and its data
    /// matches its checksum (a damaged snapshot counts as absent: replay rebuilds the weights).
    public func snapshotSteps(_ name: String) -> Int? {
        guard let file = try? SafeTensorsFile(path: snapshotPath(name)),
              file.metadata["base_fingerprint"] == manifest.baseFingerprint,
              (try? verifiedOnce(file)) != nil else { return nil }
        return file.metadata["steps"].flatMap(Int.init)
    }

    /// Where AdamW's moments are kept next to `weights-last`.
    public var optimizerStatePath: String { path + "/optimizer-last.safetensors" }

    /// Saves optimizer state arenas (e.g. "m", "v") after `steps` steps, names prefixed "<key>.".
    public func saveOptimizerState(_ state: [String: ParameterArena], steps: Int) throws {
        guard !state.isEmpty else { return }
        let entries = state.sorted { $0.key < $1.key }.flatMap { key, arena in
            arena.entries.map { SafeTensorsWriter.Entry(name: key + "." + $0.name, shape: $0.shape, data: $0.data) }
        }
        for (key, arena) in state { try arena.requireFinite(what: "optimizer state '\(key)' after \(steps) steps") }
        try SafeTensorsWriter.write(path: optimizerStatePath, entries: entries,
                                    metadata: ["steps": String(steps), "base_fingerprint": manifest.baseFingerprint],
                                    checksum: true)
    }

    /// Fills `state` from the saved optimizer state, which must hold exactly `steps` steps.
    public func loadOptimizerState(into state: [String: ParameterArena], steps: Int) throws {
        guard !state.isEmpty else { return }
        // A kill inside `saveLast` can leave the state of the weights' step in optimizer-previous.
        let file = try optimizerStateFile(steps: steps)
        guard file.metadata["steps"].flatMap(Int.init) == steps else {
            throw RunError("\(optimizerStatePath) holds the optimizer after \(file.metadata["steps"] ?? "?") steps, "
                           + "the weights after \(steps): the run cannot be resumed exactly")
        }
        for (key, arena) in state {
            for slot in arena.slots {
                try file.read(key + "." + slot.name, into: arena.buffer(slot), expectedShape: slot.shape, releasePages: true)
            }
        }
    }
}

public struct RunError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension ParameterArena {
    /// Every slot as a safetensors entry under its Hugging Face name (a bf16 arena's matrices as BF16).
    public var entries: [SafeTensorsWriter.Entry] {
        slots.map { slot in
            slot.isHalf ? SafeTensorsWriter.Entry(name: slot.name, shape: slot.shape,
                                                  bf16: UnsafeBufferPointer(start: halfPointer(slot), count: slot.count))
                : SafeTensorsWriter.Entry(name: slot.name, shape: slot.shape, data: UnsafeBufferPointer(buffer(slot)))
        }
    }
}
