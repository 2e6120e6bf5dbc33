import Foundation
import Models
import Weights

/// A peft LoRA adapter folder: `adapter_config.json` + `adapter_model.safetensors`, the format
/// `PeftModel.from_pretrained(base, folder)` loads (peft 0.21.2: peft/utils/save_and_load.py,
/// `get_peft_model_state_dict` drops the adapter name from the keys, so a tensor is
/// "base_model.model." + module + ".lora_A.weight"; peft/tuners/lora/config.py, `LoraConfig`).
///
/// `write` exports a LoRA run's adapters (`export --adapter`); `attach` reads such a folder, ours
/// or one made by peft, onto a base model (`eval/prompt --adapter`), refusing one whose modules or
/// shapes are not the base's, or whose recorded base fingerprint is another model's.
public enum LoRAAdapterFolder {
    static let configName = PeftAdapterFolder.configName, weightsName = PeftAdapterFolder.weightsName
    static let keyPrefix = "base_model.model."
    static let fingerprintKey = PeftAdapterFolder.fingerprintKey

    /// Writes `lora` (its current A and B) as a peft folder `out`, atomically (as HuggingFaceExport).
    /// - Parameters:
    ///   - baseDirectory: recorded as `base_model_name_or_path` (absolute).
    ///   - fingerprint: the base arena's fingerprint, kept in the safetensors metadata.
    public static func write(_ lora: LoRALayers, baseDirectory: String, fingerprint: String, to out: String,
                             metadata: [String: String] = [:], replace: Bool = false) throws {
        let entries = lora.arena.entries.map { SafeTensorsWriter.Entry(name: keyPrefix + $0.name, shape: $0.shape, data: $0.data) }
        let config: [String: Any] = [
            "peft_type": "LORA",
            "base_model_name_or_path": URL(fileURLWithPath: baseDirectory).standardizedFileURL.path,
            "r": lora.settings.rank,
            "lora_alpha": Double(lora.settings.alpha),
            "lora_dropout": 0.0,
            // Full module names: matched exactly (a bare "output.dense" would also match BERT's
            // attention.output.dense, peft matching by suffix).
            "target_modules": lora.modules.map(\.module),
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "use_rslora": false,
            "use_dora": false,
            "modules_to_save": NSNull(),
            "task_type": NSNull(),
            "rank_pattern": [String: Any](),
            "alpha_pattern": [String: Any](),
        ]
        try PeftAdapterFolder.write(to: out, replace: replace, entries: entries, fingerprint: fingerprint,
                                    metadata: metadata, config: config)
    }

    /// What an adapter folder says about itself.
    public struct Description {
        public let settings: LoRASettings
        /// Module → (A, B) tensor names in the file.
        public let modules: [String: (a: String, b: String)]
        public let file: SafeTensorsFile
        public let fingerprint: String?
    }

    /// Reads and checks `directory`'s config and tensor names (not yet against a model).
    public static func describe(_ directory: String) throws -> Description {
        let configPath = directory + "/" + configName, weightsPath = directory + "/" + weightsName
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw RunError("\(directory): not a peft adapter folder (no \(configName))")
        }
        guard let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw RunError("\(configPath): not a JSON object")
        }
        guard let type = config["peft_type"] as? String, type == "LORA" else {
            throw RunError("\(configPath): peft_type is \(config["peft_type"].map { "\"\($0)\"" } ?? "missing"); only LORA adapters load here")
        }
        for (key, why) in [("use_dora", "DoRA"), ("use_rslora", "rank-stabilised scaling α/√r")] where (config[key] as? Bool) == true {
            throw RunError("\(configPath): \(key) is true; \(why) is not built here (plain LoRA: W + (α/r)·B·A)")
        }
        if let bias = config["bias"] as? String, bias != "none" {
            throw RunError("\(configPath): bias is \"\(bias)\"; only adapters without trained biases (\"none\") load here")
        }
        for key in ["rank_pattern", "alpha_pattern"] {
            if let pattern = config[key] as? [String: Any], !pattern.isEmpty {
                throw RunError("\(configPath): \(key) gives some modules their own rank or α; one rank and α for all is built here")
            }
        }
        guard let r = config["r"] as? Int, r > 0 else { throw RunError("\(configPath): r must be a positive integer, not \(config["r"] ?? "missing")") }
        guard let alpha = (config["lora_alpha"] as? NSNumber)?.floatValue, alpha > 0 else {
            throw RunError("\(configPath): lora_alpha must be positive, not \(config["lora_alpha"] ?? "missing")")
        }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: weightsPath) } catch {
            throw RunError("\(directory): cannot read \(weightsName): \(error)")
        }
        var modules: [String: (a: String, b: String)] = [:]
        for name in file.tensorNames {
            guard name.hasPrefix(keyPrefix), name.hasSuffix(".lora_A.weight") || name.hasSuffix(".lora_B.weight") else {
                throw RunError("\(weightsPath): tensor \"\(name)\" is not a LoRA A or B weight (\(keyPrefix)<module>.lora_A.weight)")
            }
            let module = String(name.dropFirst(keyPrefix.count).dropLast(".lora_A.weight".count))
            let a = keyPrefix + module + ".lora_A.weight", b = keyPrefix + module + ".lora_B.weight"
            guard file.tensorNames.contains(a), file.tensorNames.contains(b) else {
                throw RunError("\(weightsPath): module \(module) has only one of lora_A and lora_B")
            }
            modules[module] = (a, b)
        }
        guard !modules.isEmpty else { throw RunError("\(weightsPath): no LoRA tensors") }
        return Description(settings: LoRASettings(rank: r, alpha: alpha, targets: []), modules: modules, file: file,
                           fingerprint: file.metadata[fingerprintKey])
    }

    /// The targets (q, v, …) that make `model`'s module list equal the adapter's, or an error
    /// naming the first module the base lacks or the layers the adapter leaves out.
    static func targets(of adapter: Description, available: [LoRAModule], directory: String, model: String) throws -> [LoRATarget] {
        let byName = Dictionary(uniqueKeysWithValues: available.map { ($0.module, $0) })
        var targets = Set<LoRATarget>()
        for module in adapter.modules.keys.sorted() {
            guard let m = byName[module] else {
                throw RunError("\(directory): the adapter's module \(module) is not an adaptable projection of \(model) "
                               + "(the adapter belongs to another base model)")
            }
            targets.insert(m.target)
        }
        let wanted = LoRATarget.allCases.filter(targets.contains)
        let covered = available.filter { targets.contains($0.target) }.map(\.module)
        if let missing = covered.first(where: { adapter.modules[$0] == nil }) {
            throw RunError("\(directory): the adapter adapts \(wanted.map(\.rawValue).joined(separator: ",")) but not \(missing); "
                           + "adapters over some layers only are not built here (or the base model has more layers)")
        }
        return wanted
    }

    /// Attaches the adapter folder `directory` to a freshly loaded model (shapes checked, values
    /// loaded). `fingerprint`: the base's, compared with the one the folder records (if any).
    @discardableResult
    public static func attach(_ directory: String, to model: some TrainableModel, modelDirectory: String, threads: Int) throws -> LoRALayers {
        let adapter = try describe(directory)
        let available = try model.loraModules(model.loraTargets)
        let targets = try Self.targets(of: adapter, available: available, directory: directory, model: modelDirectory)
        try checkFingerprint(adapter, model.arena, directory: directory, modelDirectory: modelDirectory, threads: threads)
        var settings = adapter.settings
        settings.targets = targets
        let lora = try model.attachLoRA(settings)
        try fill(lora, from: adapter, directory: directory, modelDirectory: modelDirectory)
        return lora
    }

    static func checkFingerprint(_ adapter: Description, _ base: ParameterArena, directory: String, modelDirectory: String, threads: Int) throws {
        guard let recorded = adapter.fingerprint else { return }   // made by peft: modules and shapes are all we can check
        let actual = base.fingerprint(threads: threads)
        guard actual == recorded else {
            throw RunError("\(directory) was trained on base weights with fingerprint \(recorded); \(modelDirectory) has \(actual): "
                           + "not the adapter's base model")
        }
    }

    static func fill(_ lora: LoRALayers, from adapter: Description, directory: String, modelDirectory: String) throws {
        for m in lora.modules {
            let (a, b) = adapter.modules[m.module]!
            for (name, slotName, expected) in [(a, m.aName, [lora.settings.rank, m.in]), (b, m.bName, [m.out, lora.settings.rank])] {
                let shape = try adapter.file.storedShape(name)
                guard shape == expected else {
                    throw RunError("\(directory): \(name) has shape \(shape) but \(modelDirectory)'s \(m.module) needs \(expected) "
                                   + "(rank \(lora.settings.rank), \(m.in) inputs, \(m.out) outputs): not the adapter's base model")
                }
                try adapter.file.read(name, into: lora.arena.buffer(lora.arena.slot(slotName)!), expectedShape: expected)
            }
        }
    }
}
