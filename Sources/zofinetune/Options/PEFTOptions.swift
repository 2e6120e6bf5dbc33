import ArgumentParser
import Models
import Training

/// train's parameter-efficient fine-tuning options: which parameters train (`--peft`) and each
/// method's settings. Kept in run.json (flat keys: peft, lora_rank, lora_alpha, lora_targets) and
/// config.yaml, so replay, resume, `eval/prompt/export --run` and `train --config` rebuild them.
struct PEFTOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("""
        Which parameters train: none (the whole model, default), lora (low-rank adapters W + (α/r)·B·A on \
        --lora-targets; the base weights stay read-only) or prefix (prefix tuning). Works with every optimizer: \
        zeroth-order ones perturb only the adapters, sgd/adamw backpropagate to them only.
        """, valueName: "none|lora|prefix")) var peft: PEFTMethod?
    @Option(name: .long, help: "LoRA rank r (default 8, as the MeZO paper). Without --lr/--eps a LoRA run starts from the paper's settings: MeZO lr 1e-4, eps 1e-2; sgd/adamw lr 1e-4.") var loraRank: Int?
    @Option(name: .long, help: "LoRA α; B·A is scaled by α/r (default 16).") var loraAlpha: Float?
    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("""
        Projections LoRA adapts, comma-separated: q,k,v,o,gate,up,down (default q,v as in the MeZO paper). \
        Encoders (BERT) map q,k,v,o,up,down to query, key, value, attention.output.dense, intermediate.dense, \
        output.dense and have no gate.
        """, valueName: "q,v,...")) var loraTargets: [String] = []
    @Option(name: .long, help: ArgumentHelp("""
        Prefix tuning: n trainable key and value vectors in front of every sequence in every layer (default 5, \
        as the MeZO paper), started from the keys/values of n random tokens (MeZO's init by real activations). \
        The real tokens' positions then start at n, so prompts may hold the model's positions − n tokens. \
        Without --lr/--eps a prefix run starts from the MeZO paper's settings: MeZO lr 1e-3, eps 1e-1; sgd/adamw lr 1e-2.
        """, valueName: "n")) var prefixTokens: Int?

    func validate() throws {
        let method = peft ?? .none
        if method != .lora, let (name, _) = [("--lora-rank", loraRank != nil), ("--lora-alpha", loraAlpha != nil),
                                              ("--lora-targets", !loraTargets.isEmpty)].first(where: { $0.1 }) {
            throw ValidationError("\(name) is a LoRA setting; give --peft lora with it")
        }
        if method != .prefix, prefixTokens != nil { throw ValidationError("--prefix-tokens is a prefix-tuning setting; give --peft prefix with it") }
        // The rules run.json's peft keys are checked with (SettingRules, RunManifestCheck).
        try SettingRules.prefixTokens.validate(prefixTokens)
        try SettingRules.loraRank.validate(loraRank)
        try SettingRules.loraAlpha.validate(loraAlpha)
        do { _ = try targets() } catch { throw ValidationError("--lora-targets: \(error)") }
    }

    /// The targets given ("q,v" or "q v"), nil when none.
    func targets() throws -> [LoRATarget]? {
        loraTargets.isEmpty ? nil : try LoRATarget.parse(loraTargets.joined(separator: ","))
    }

    /// Sets the run's PEFT fields from the options (defaults filled in, so run.json names them).
    /// A LoRA run without --lr / --eps starts from the MeZO paper's LoRA settings (`LoRASettings.mezoLR`).
    func apply(to c: inout TrainingConfig, lrGiven: Bool, epsGiven: Bool) {
        c.peft = peft ?? .none
        if c.peft == .prefix {   // the MeZO paper's prefix settings unless given (KeyValuePrefix.mezoLR)
            c.prefixTokens = prefixTokens ?? KeyValuePrefix.defaultTokens
            if !lrGiven { c.lr = c.optimizer.usesBackprop ? KeyValuePrefix.backpropLR : KeyValuePrefix.mezoLR }
            if !epsGiven, !c.optimizer.usesBackprop { c.eps = KeyValuePrefix.mezoEps }
        }
        guard c.peft == .lora else { return }
        if !lrGiven { c.lr = c.optimizer.usesBackprop ? LoRASettings.backpropLR : LoRASettings.mezoLR }
        if !epsGiven, !c.optimizer.usesBackprop { c.eps = LoRASettings.mezoEps }
        let d = LoRASettings()
        c.loraRank = loraRank ?? d.rank
        c.loraAlpha = loraAlpha ?? d.alpha
        c.loraTargets = (try? targets()) ?? d.targets
    }

    /// config.yaml's lines for these options (`TrainCommand.resolvedConfiguration`).
    static func resolved(_ c: TrainingConfig) -> [(String, Any?)] {
        if let n = c.prefix { return [("peft", c.peft.rawValue), ("prefix-tokens", n)] }
        guard let lora = c.lora else { return [("peft", c.peft.rawValue)] }
        return [("peft", c.peft.rawValue), ("lora-rank", lora.rank), ("lora-alpha", lora.alpha),
                ("lora-targets", lora.targets.map(\.rawValue))]
    }
}

extension PEFTMethod: ExpressibleByArgument {}
