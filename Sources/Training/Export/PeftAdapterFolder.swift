import Foundation
import Weights

/// What the two peft adapter folders (`LoRAAdapterFolder`, `PrefixAdapterFolder`) share: peft's two
/// file names, the metadata key of the base fingerprint, and the atomic write of the folder
/// (staging folder, fsync, rename into place; as HuggingFaceExport).
enum PeftAdapterFolder {
    static let configName = "adapter_config.json", weightsName = "adapter_model.safetensors"
    /// adapter_model.safetensors metadata: the base weights' `ParameterArena.fingerprint()` (peft
    /// ignores safetensors metadata; an extra key in adapter_config.json would make it warn).
    static let fingerprintKey = "zofinetune_base_fingerprint"

    /// Writes `entries` (with `metadata` + the fingerprint) and `config` as the peft folder `out`.
    static func write(to out: String, replace: Bool, entries: [SafeTensorsWriter.Entry], fingerprint: String,
                      metadata: [String: String] = [:], config: [String: Any]) throws {
        let fm = FileManager.default
        if !replace, let why = HuggingFaceExport.refusal(out: out) { throw RunError(why) }
        HuggingFaceExport.removeAbandonedStaging(for: out)
        let staging = AtomicFile.temporaryPath(for: out)
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        do {
            try SafeTensorsWriter.write(path: staging + "/" + weightsName, entries: entries,
                                        metadata: metadata.merging(["format": "pt", fingerprintKey: fingerprint]) { a, _ in a })
            let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try AtomicFile.write(json, to: staging + "/" + configName)
            try AtomicFile.syncDirectory(staging)
            try HuggingFaceExport.moveIntoPlace(staging, out)
            try AtomicFile.syncDirectory(containing: out)
        } catch {
            try? fm.removeItem(atPath: staging)
            throw error
        }
    }
}
