import ArgumentParser
import Foundation
import Models
import Tasks
import Tensors
import Tokenizers

/// --model and --threads, shared by every command that runs a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Hugging Face model folder (config.json, model.safetensors, tokenizer.model).", valueName: "dir"))
    var model: String

    @Option(name: .long, help: "Threads for matrix products and kernels (default: every core).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// Opens OpenBLAS, sets the thread count, loads tokenizer and weights, saying so on stderr.
    func load() throws -> (DecoderModel, Tokenizer) {
        try BLAS.load()
        Threads.set(threads ?? Threads.count)
        let tokenizer = try TokenizerLoader.load(modelDirectory: model)
        let started = Date()
        let decoder = try ModelLoader.loadDecoder(directory: model)
        let params = Double(decoder.arena.parameterCount) / 1e6
        log(String(format: "loaded %@ (%@, %.0fM parameters) in %.1f s; OpenBLAS %@ kernels, %d threads",
                   model, decoder.config.family.rawValue, params, Date().timeIntervalSince(started),
                   BLAS.coreName, Threads.count))
        return (decoder, tokenizer)
    }
}

/// --task and --data.
struct TaskOptions: ParsableArguments {
    @Option(name: .long, help: "Task: sst2.")
    var task: TaskName = .sst2

    @Option(name: .long, help: ArgumentHelp("Folder with train.tsv/dev.tsv (default: $SST2_DIR, else data/sst2).", valueName: "dir"))
    var data: String?

    var dataDirectory: String {
        data ?? ProcessInfo.processInfo.environment["SST2_DIR"] ?? "data/sst2"
    }
}

extension TaskName: ExpressibleByArgument {}
extension Split: ExpressibleByArgument {}

/// Human output goes to stderr so that stdout carries only results (and only JSON with --json).
func log(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}

/// Prints one JSON object on stdout, keys sorted so output is stable for scripts and tests.
func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
