import Foundation
import Models
import Weights

/// Writes a model's current weights as a Hugging Face folder: model.safetensors (f32, HF names)
/// plus the base folder's config and tokenizer files. Written into a staging folder beside `out`
/// and renamed into place, so an interrupted export leaves nothing half-written.
public enum HuggingFaceExport {
    /// Files (and sentence-transformers' pooling folder) copied unchanged from the base folder when present.
    static let companionFiles = ["config.json", "tokenizer.model", "tokenizer_config.json",
                                 "special_tokens_map.json", "generation_config.json", "tokenizer.json", "vocab.txt",
                                 "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
                                 "1_Pooling"]

    public static func write(arena: ParameterArena, baseDirectory: String, to out: String,
                             metadata: [String: String] = [:]) throws {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: out) else { throw RunError("\(out) already exists") }
        let staging = out + ".partial-\(getpid())"
        try? fm.removeItem(atPath: staging)
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        do {
            try SafeTensorsWriter.write(path: staging + "/model.safetensors", entries: arena.entries,
                                        metadata: metadata.merging(["format": "pt"]) { a, _ in a })
            for file in companionFiles where fm.fileExists(atPath: baseDirectory + "/" + file) {
                try fm.copyItem(atPath: baseDirectory + "/" + file, toPath: staging + "/" + file)
            }
            try fm.moveItem(atPath: staging, toPath: out)
        } catch {
            try? fm.removeItem(atPath: staging)
            throw error
        }
    }
}
