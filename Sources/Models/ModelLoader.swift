import Foundation
import Weights

/// Loads a Hugging Face model folder: `config.json` + `model.safetensors` (or the shards named by
/// `model.safetensors.index.json`), strictly, into a fresh parameter arena.
public enum ModelLoader {
    /// The weights files of a folder. Only the files a Hugging Face loader would read: other
    /// `.safetensors` files (reference dumps, optimizer state) are not weights.
    public static func weightFiles(directory: String) throws -> [String] {
        let dir = directory as NSString
        let index = dir.appendingPathComponent("model.safetensors.index.json")
        if let data = FileManager.default.contents(atPath: index) {
            guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = json["weight_map"] as? [String: String] else {
                throw ModelError("\(index): no \"weight_map\" object")
            }
            return Set(map.values).sorted().map { dir.appendingPathComponent($0) }
        }
        let single = dir.appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: single) { return [single] }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelError("\(directory): no such model folder")
        }
        throw ModelError("\(directory): no model.safetensors (or model.safetensors.index.json) in the folder")
    }

    /// The arena format for `--weights requested` (nil: the folder's default), and why: f32 when
    /// the folder's safetensors hold f32 (or f16, widened exactly), bf16 when they hold bf16.
    /// Throws for f16 (`WeightFormat.f16Refusal`).
    public static func weightFormat(directory: String, requested: WeightFormat?) throws -> (WeightFormat, String) {
        if requested == .f16 { throw ModelError(WeightFormat.f16Refusal) }
        if let requested { return (requested, "--weights \(requested.rawValue)") }
        let files = try weightFiles(directory: directory).map { try SafeTensorsFile(path: $0) }
        let (format, why) = WeightFormat.defaultFor(dtypes: files.reduce(into: Set<String>()) { $0.formUnion($1.floatDTypes) })
        return (format, "the default: " + why)
    }

    /// Reads the config, allocates the arena and fills it.
    /// - Parameter weights: how the arena holds them (`.bf16`: 2 bytes a matrix element, read by
    ///   the products directly; an f32 file is rounded to nearest even tensor by tensor).
    public static func loadDecoder(directory: String, maxPositions: Int = 4096, weights: WeightFormat = .f32) throws -> DecoderModel {
        if weights == .f16 { throw ModelError(WeightFormat.f16Refusal) }
        let config = try DecoderConfig.load(directory: directory)
        let files = try weightFiles(directory: directory).map { try SafeTensorsFile(path: $0) }
        try ConfigLimits.requireWeights(for: DecoderLayout.specs(config), in: files, path: directory + "/config.json")
        let arena = ParameterArena(specs: DecoderLayout.specs(config), format: weights)
        try arena.load(from: files, ignoring: DecoderModel.ignoredTensors(config: config))
        return try DecoderModel(config: config, arena: arena, maxPositions: maxPositions)
    }

    /// Reads an encoder folder (model_type bert or roberta): config, weights (names with or without
    /// a "bert."/"roberta." prefix), strictly, into a fresh arena.
    public static func loadEncoder(directory: String) throws -> EncoderModel {
        let config = try EncoderConfig.load(directory: directory)
        let files = try weightFiles(directory: directory).map { try SafeTensorsFile(path: $0) }
        let names = files.flatMap(\.tensorNames)
        guard let prefix = EncoderModel.prefix(inTensorNames: names) else {
            let tried = EncoderLayout.knownPrefixes.map { "\"\($0)embeddings.word_embeddings.weight\"" }
            throw ModelError("\(files.map(\.path).joined(separator: ", ")): no word embedding table "
                             + "(looked for \(tried.joined(separator: ", "))); not a BERT-family checkpoint")
        }
        try ConfigLimits.requireWeights(for: EncoderLayout.specs(config, prefix: prefix), in: files, path: directory + "/config.json")
        let arena = EncoderModel.makeArena(config: config, prefix: prefix)
        try arena.load(from: files, ignoring: EncoderModel.ignoredTensors(prefix: prefix, names: names))
        return EncoderModel(config: config, arena: arena, prefix: prefix)
    }
}
