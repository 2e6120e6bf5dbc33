import Foundation
import Models
import Weights

/// A peft prefix-tuning adapter folder: `adapter_config.json` (peft_type PREFIX_TUNING) +
/// `adapter_model.safetensors` holding `prompt_embeddings` (n, L·2·W), the format
/// `PeftModel.from_pretrained(base, folder)` loads (peft 0.21.2: peft/utils/save_and_load.py,
/// `get_peft_model_state_dict` saves prompt-learning adapters as `{"prompt_embeddings": …}`;
/// peft/tuners/prefix_tuning/config.py, `PrefixTuningConfig`; the config fields are what
/// `PeftModel.save_pretrained` writes for one, after `_prepare_prompt_learning_config` made
/// token_dim = num_key_value_heads·head_dim and num_attention_heads = num_key_value_heads).
///
/// There is no merged export of a prefix: the prefix is extra keys and values in every layer's
/// attention, not a change of any weight, so no Hugging Face checkpoint of the base architecture
/// can hold it (`export` without `--adapter` refuses a prefix run, saying so).
public enum PrefixAdapterFolder {
    static let configName = PeftAdapterFolder.configName, weightsName = PeftAdapterFolder.weightsName
    static let fingerprintKey = PeftAdapterFolder.fingerprintKey

    /// Writes `prefix` (its current values) as a peft folder `out`, atomically (as HuggingFaceExport).
    /// - Parameters:
    ///   - baseDirectory: recorded as `base_model_name_or_path` (absolute).
    ///   - fingerprint: the base arena's fingerprint, kept in the safetensors metadata.
    ///   - taskType: peft's task type: CAUSAL_LM for decoders, FEATURE_EXTRACTION for encoders.
    public static func write(_ prefix: KeyValuePrefix, kvHeads: Int, taskType: String, baseDirectory: String,
                             fingerprint: String, to out: String, replace: Bool = false) throws {
        let slot = prefix.arena.slots[0]
        let entry = SafeTensorsWriter.Entry(name: KeyValuePrefix.tensorName, shape: slot.shape,
                                            data: UnsafeBufferPointer(prefix.arena.buffer(slot)))
        let config: [String: Any] = [
            "peft_type": "PREFIX_TUNING",
            "task_type": taskType,
            "base_model_name_or_path": URL(fileURLWithPath: baseDirectory).standardizedFileURL.path,
            "num_virtual_tokens": prefix.tokens,
            "num_layers": prefix.layers,
            "token_dim": prefix.width,
            "num_attention_heads": kvHeads,
            "encoder_hidden_size": prefix.width,
            "num_transformer_submodules": 1,
            "prefix_projection": false,
            "inference_mode": true,
            "init_weights": NSNull(),
            "modules_to_save": NSNull(),
            "auto_mapping": NSNull(),
            "revision": NSNull(),
            "peft_version": "0.21.2",
        ]
        try PeftAdapterFolder.write(to: out, replace: replace, entries: [entry], fingerprint: fingerprint, config: config)
    }

    /// True when `directory` holds a peft config naming prefix tuning.
    public static func isPrefixFolder(_ directory: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: directory + "/" + configName),
              let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return config["peft_type"] as? String == "PREFIX_TUNING"
    }

    /// Attaches the prefix folder `directory` (ours, or one peft saved) to a freshly loaded model.
    @discardableResult
    public static func attach(_ directory: String, to model: some TrainableModel, modelDirectory: String, threads: Int) throws -> KeyValuePrefix {
        let shape = model.prefixShape
        return try attach(directory, layers: shape.layers, kvHeads: shape.kvHeads, width: shape.width, base: model.arena,
                          modelDirectory: modelDirectory, threads: threads) { try model.attachPrefix(tokens: $0) }
    }

    /// Reads and checks the folder against the base's shape (layers, kv heads, key width) and its
    /// recorded fingerprint, then attaches a prefix of its length and loads the values.
    static func attach(_ directory: String, layers: Int, kvHeads: Int, width: Int, base: ParameterArena,
                       modelDirectory: String, threads: Int, make: (Int) throws -> KeyValuePrefix) throws -> KeyValuePrefix {
        let configPath = directory + "/" + configName, weightsPath = directory + "/" + weightsName
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw RunError("\(directory): not a peft adapter folder (no \(configName))")
        }
        guard let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw RunError("\(configPath): not a JSON object")
        }
        guard config["peft_type"] as? String == "PREFIX_TUNING" else {
            throw RunError("\(configPath): peft_type is \(config["peft_type"].map { "\"\($0)\"" } ?? "missing"), not PREFIX_TUNING")
        }
        if config["prefix_projection"] as? Bool == true {
            throw RunError("\(configPath): prefix_projection is true; only a prefix stored as its keys and values "
                           + "(prefix_projection false, as MeZO trains it) loads here")
        }
        guard let n = config["num_virtual_tokens"] as? Int, n >= 1 else {
            throw RunError("\(configPath): num_virtual_tokens must be a positive integer, not \(config["num_virtual_tokens"] ?? "missing")")
        }
        let theirs = (layers: config["num_layers"] as? Int, heads: config["num_attention_heads"] as? Int, width: config["token_dim"] as? Int)
        guard theirs.layers == layers, theirs.heads == kvHeads, theirs.width == width else {
            throw RunError("\(directory): the prefix is for a model with \(theirs.layers.map(String.init) ?? "?") layers, "
                           + "\(theirs.heads.map(String.init) ?? "?") key/value heads and keys of width \(theirs.width.map(String.init) ?? "?"); "
                           + "\(modelDirectory) has \(layers), \(kvHeads) and \(width): the adapter belongs to another base model")
        }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: weightsPath) } catch {
            throw RunError("\(directory): cannot read \(weightsName): \(error)")
        }
        if let recorded = file.metadata[fingerprintKey] {
            let fingerprint = base.fingerprint(threads: threads)
            guard recorded == fingerprint else {
                throw RunError("\(directory): the adapter was trained on base weights with fingerprint \(recorded); "
                               + "\(modelDirectory) has \(fingerprint): the adapter belongs to another base model")
            }
        }
        let prefix = try make(n)
        let slot = prefix.arena.slots[0]
        do {
            try file.read(KeyValuePrefix.tensorName, into: prefix.arena.buffer(slot), expectedShape: slot.shape)
        } catch {
            throw RunError("\(weightsPath): \(error)")
        }
        return prefix
    }
}
