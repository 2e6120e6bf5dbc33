import ArgumentParser
import Foundation
import Models
import Training

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the weights of a run as a Hugging Face folder (transformers) or a GGUF file (llama.cpp, Ollama, LM Studio).",
        discussion: """
            Replays the run's seed log onto the base model (from a snapshot when possible). With \
            --format hf (default) it writes config.json, model.safetensors (f32, Hugging Face names) and \
            the tokenizer files of the base folder into the folder --out. With --format gguf it writes \
            one GGUF file --out (decoders: Gemma-3, Llama, Mistral, Qwen2, Qwen3) with llama.cpp's \
            tensor names and conventions (Gemma norms stored as 1 + w, Llama q/k rows permuted) and \
            the tokenizer embedded; --type sets the matrices' encoding: f32 (exact), f16, bf16 or q8_0 \
            (8-bit blocks of 32 with an fp16 scale, about a quarter of f32's size); norms and biases \
            stay f32. Either is written beside --out (every file fsync'ed) and renamed into place, so \
            an interrupted export leaves nothing half-written. A non-empty --out is refused; --force \
            replaces it.

            A LoRA run (train --peft lora) exports merged weights (W + (α/r)·B·A, a plain model folder) by \
            default, or with --adapter a peft adapter folder (adapter_config.json + adapter_model.safetensors) \
            that `PeftModel.from_pretrained(base, DIR)` loads onto the base model and `eval/prompt --adapter DIR` \
            reads back.

            A prefix-tuning run (train --peft prefix) has no merged export: its prefix is extra keys and \
            values in every layer's attention, which no weight of the base architecture can hold. Export \
            it with --adapter: a peft PREFIX_TUNING folder (prompt_embeddings) for `PeftModel.from_pretrained` \
            and `eval/prompt --adapter DIR`.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .customLong("run"), help: ArgumentHelp("The training run folder.", valueName: "dir"))
    var runFolder: String

    @Option(name: .long, help: ArgumentHelp("Which weights: best, last, or a step count.", valueName: "best|last|N"))
    var at: String = "best"

    @Option(name: .long, help: ArgumentHelp("Folder (hf) or file (gguf) to create; an existing non-empty one only with --force.", valueName: "path"))
    var out: String

    @Flag(name: .long, help: "Replace --out even if it is not empty.")
    var force = false

    @Option(name: .long, help: "hf (a Hugging Face folder, default) or gguf (one file for llama.cpp).")
    var format: ExportFormat = .hf

    @Flag(name: .long, help: "A --peft lora or prefix run: write its adapters as a peft folder instead of merged weights (a prefix run exports only this way).")
    var adapter = false

    @Option(name: .long, help: ArgumentHelp("GGUF: encoding of the matrices, f32 (default), f16, bf16 or q8_0.", valueName: "f32|f16|bf16|q8_0"))
    var type: String?

    enum ExportFormat: String, ExpressibleByArgument, CaseIterable { case hf, gguf }

    func validate() throws {
        if !force, let why = HuggingFaceExport.refusal(out: out) { throw ValidationError(why) }
        try RunOptions(run: runFolder, at: at).validate()
        if adapter, format == .gguf { throw ValidationError("--adapter writes a peft folder; --format gguf writes merged weights (leave out --adapter)") }
        if let type {
            guard format == .gguf else { throw ValidationError("--type applies to --format gguf") }
            guard GGUFExport.types[type] != nil else { throw ValidationError("--type takes f32, f16, bf16 or q8_0, not \"\(type)\"") }
        }
    }

    func run() throws {
        let runOptions = RunOptions(run: runFolder, at: at)
        if format == .gguf {
            guard try modelOptions.architecture().exportsGGUF else {
                throw InputError("\(modelOptions.model) is an encoder; GGUF export writes decoders (llama.cpp runs those). Use --format hf")
            }
            let (model, tokenizer, _) = try modelOptions.load(run: runOptions)
            if model.prefixTuning != nil { throw Self.noMergedPrefix(runFolder) }
            try model.mergeLoRA()   // a LoRA run: W + (α/r)·B·A
            let started = Date()
            let name = ((out as NSString).lastPathComponent as NSString).deletingPathExtension
            let notes = try GGUFExport.write(model: model, tokenizer: tokenizer, baseDirectory: modelOptions.model, to: out,
                                             type: GGUFExport.types[type ?? "f32"]!, name: name)
            for note in notes { log("note: \(note)") }
            let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
            log(String(format: "wrote %@ (GGUF %@, %.1f MB) in %.1f s", out, type ?? "f32", Double(size) / 1e6, Date().timeIntervalSince(started)))
            return
        }
        let (loaded, _) = try modelOptions.loadModel(run: runOptions)
        let model = loaded.model
        let lora = model.lora
        if let prefix = model.prefixTuning {
            guard adapter else { throw Self.noMergedPrefix(runFolder) }
            try PrefixAdapterFolder.write(prefix, kvHeads: model.prefixShape.kvHeads, taskType: model.peftTaskType, baseDirectory: modelOptions.model,
                                          fingerprint: try RunFolder(path: runFolder).manifest.baseFingerprint, to: out, replace: force)
            log("wrote \(out) (peft prefix-tuning adapter: \(prefix.tokens) prefix tokens, \(prefix.parameterCount) parameters)")
            return
        }
        if adapter {
            guard let lora else {
                let run = try RunFolder(path: runFolder)
                throw InputError("--adapter exports the adapters of a --peft lora run; \(runFolder) trained "
                                 + (run.manifest.config.peft == .none ? "the whole model (export it without --adapter)" : "--peft \(run.manifest.config.peft.rawValue)"))
            }
            try LoRAAdapterFolder.write(lora, baseDirectory: modelOptions.model, fingerprint: try RunFolder(path: runFolder).manifest.baseFingerprint,
                                        to: out, metadata: ["exported_by": "zofinetune", "run": runFolder, "at": at], replace: force)
            log("wrote \(out) (peft LoRA adapter: rank \(lora.settings.rank), alpha \(lora.settings.alpha), \(lora.modules.count) modules, \(lora.parameterCount) parameters)")
            return
        }
        try model.mergeLoRA()   // a LoRA run: W + (α/r)·B·A into the base weights
        try HuggingFaceExport.write(arena: model.arena, baseDirectory: modelOptions.model, to: out,
                                    metadata: ["exported_by": "zofinetune", "run": runFolder, "at": at], replace: force)
        log("wrote \(out)")
    }

    /// Why a prefix run cannot be merged into the base weights, and what to do instead.
    static func noMergedPrefix(_ run: String) -> InputError {
        InputError("\(run) trained a prefix (--peft prefix): prefix tuning adds keys and values to every layer's attention "
                   + "instead of changing weights, so no merged model folder or GGUF file can hold it. Export it with --adapter "
                   + "(a peft folder that PeftModel.from_pretrained and eval/prompt --adapter load)")
    }
}
