import ArgumentParser

@main
struct Zofinetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zofinetune",
        abstract: "Fine-tune and evaluate transformer language models on the CPU with forward passes only (MeZO).",
        discussion: """
            Models are Hugging Face folders (config.json, model.safetensors, tokenizer.model). \
            Fetch the default model with `python3 tools/setup/fetch_model.py` (writes models/gemma-3-270m) \
            and SST-2 with `tools/setup/fetch_sst2.sh`.

            Examples:
              zofinetune --model models/gemma-3-270m --task sst2          (train with MeZO)
              zofinetune export --model models/gemma-3-270m --run runs/sst2-... --out models/gemma-3-270m-sst2
              zofinetune eval --model models/gemma-3-270m --task sst2 --split dev
              zofinetune prompt --model models/gemma-3-270m "the film is a delight . It was" --candidates " great" " terrible"
              zofinetune tokenize --model models/gemma-3-270m " great"
            """,
        subcommands: [TrainCommand.self, EvalCommand.self, PromptCommand.self, ExportCommand.self, TokenizeCommand.self,
                      BenchCommand.self, ProfileCommand.self, ReportCommand.self, DiagnoseCommand.self, ProfileWorkerCommand.self],
        defaultSubcommand: TrainCommand.self
    )

    /// `train --config FILE` becomes the file's flags followed by the command line's before parsing,
    /// so that the file may give what is required (--model) and the command line overrides it.
    static func main() {
        OpenMPWaitPolicy.ensurePassive()
        do {
            main(try TrainConfigFile.expanding(Array(CommandLine.arguments.dropFirst())))
        } catch {
            exit(withError: error)
        }
    }
}
