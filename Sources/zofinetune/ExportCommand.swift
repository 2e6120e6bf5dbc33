import ArgumentParser
import Foundation
import Models
import Training

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the weights of a run as a Hugging Face folder that transformers loads.",
        discussion: """
            Replays the run's seed log onto the base model (from a snapshot when possible) and writes \
            config.json, model.safetensors (f32, Hugging Face names) and the tokenizer files of the \
            base folder into --out. The folder is written beside --out (every file fsync'ed) and \
            renamed into place, so an interrupted export leaves nothing half-written. --out must not \
            exist or be empty; --force replaces a folder that is not.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .customLong("run"), help: ArgumentHelp("The training run folder.", valueName: "dir"))
    var runFolder: String

    @Option(name: .long, help: ArgumentHelp("Which weights: best, last, or a step count.", valueName: "best|last|N"))
    var at: String = "best"

    @Option(name: .long, help: ArgumentHelp("Folder to create (or an empty one to fill).", valueName: "dir"))
    var out: String

    @Flag(name: .long, help: "Replace --out even if it is not empty.")
    var force = false

    func validate() throws {
        if !force, let why = HuggingFaceExport.refusal(out: out) { throw ValidationError(why) }
        try RunOptions(run: runFolder, at: at).validate()
    }

    func run() throws {
        let runOptions = RunOptions(run: runFolder, at: at)
        let arena = try EncoderConfig.isEncoder(directory: modelOptions.model)
            ? modelOptions.loadEmbedder(run: runOptions).0.model.arena
            : modelOptions.load(run: runOptions).0.arena
        try HuggingFaceExport.write(arena: arena, baseDirectory: modelOptions.model, to: out,
                                    metadata: ["exported_by": "zofinetune", "run": runFolder, "at": at], replace: force)
        log("wrote \(out)")
    }
}
