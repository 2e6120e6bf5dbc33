import Foundation
import Models
import Weights

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a model's current weights as a Hugging Face folder: model.safetensors (HF names; f32, or
/// for a bf16 arena its matrices and embeddings as BF16 bit for bit and its norms and biases as
/// F32, which transformers loads as they are or widens exactly with dtype=float32) plus the base
/// folder's config and tokenizer files. Written into a staging folder beside `out`
/// (every file fsync'ed) and renamed into place, so an interrupted export leaves nothing
/// half-written at `out`; a staging folder left by a killed export is removed by the next export
/// to the same `out`.
public enum HuggingFaceExport {
    /// Files (and sentence-transformers' pooling folder) copied unchanged from the base folder when present.
    static let companionFiles = ["config.json", "tokenizer.model", "tokenizer_config.json",
                                 "special_tokens_map.json", "generation_config.json", "tokenizer.json", "vocab.txt", "chat_template.jinja",
                                 "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
                                 "1_Pooling"]

    /// Why `out` cannot be written without `replace`, or nil: a missing or empty folder is fine;
    /// a file or a folder with anything in it would be overwritten.
    public static func refusal(out: String) -> String? {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: out, isDirectory: &isDirectory) else { return nil }
        guard isDirectory.boolValue else { return "\(out) exists and is not a folder" }
        let contents = (try? fm.contentsOfDirectory(atPath: out)) ?? ["?"]
        return contents.isEmpty ? nil : "\(out) is not empty (\(contents.count) entries); give --force to replace it"
    }

    /// - Parameter replace: replace a non-empty `out` (`export --force`); without it such an `out` is refused.
    public static func write(arena: ParameterArena, baseDirectory: String, to out: String,
                             metadata: [String: String] = [:], replace: Bool = false) throws {
        let fm = FileManager.default
        if !replace, let why = refusal(out: out) { throw RunError(why) }
        removeAbandonedStaging(for: out)
        let staging = AtomicFile.temporaryPath(for: out)
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        do {
            try SafeTensorsWriter.write(path: staging + "/model.safetensors", entries: arena.entries,
                                        metadata: metadata.merging(["format": "pt"]) { a, _ in a })
            for file in companionFiles where fm.fileExists(atPath: baseDirectory + "/" + file) {
                try fm.copyItem(atPath: baseDirectory + "/" + file, toPath: staging + "/" + file)
                try syncTree(staging + "/" + file)
            }
            try AtomicFile.syncDirectory(staging)
            try moveIntoPlace(staging, out)
            try AtomicFile.syncDirectory(containing: out)
        } catch {
            try? fm.removeItem(atPath: staging)
            throw error
        }
    }

    /// Renames the finished staging folder to `out`. An existing `out` (empty, or replaced with
    /// --force) is swapped out first: the old one is renamed aside, the new one in, then the old
    /// one removed, so at every instant `out` is either the old folder, absent, or the new one.
    static func moveIntoPlace(_ staging: String, _ out: String) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: out) else {
            guard rename(staging, out) == 0 else {
                throw RunError("\(out): cannot rename \(staging) into place (\(String(cString: strerror(errno))))")
            }
            return
        }
        let old = AtomicFile.temporaryPath(for: out)
        guard rename(out, old) == 0 else {
            throw RunError("\(out): cannot move the existing folder aside (\(String(cString: strerror(errno))))")
        }
        guard rename(staging, out) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = rename(old, out)
            throw RunError("\(out): cannot rename \(staging) into place (\(reason))")
        }
        try fm.removeItem(atPath: old)
    }

    /// fsync of a copied file, or of every file in a copied folder (e.g. 1_Pooling).
    static func syncTree(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
        if isDirectory.boolValue {
            for name in try FileManager.default.contentsOfDirectory(atPath: path) { try syncTree(path + "/" + name) }
            try AtomicFile.syncDirectory(path)
        } else {
            try AtomicFile.syncFile(path)
        }
    }

    /// Removes staging (or set-aside) folders of `out` whose export process no longer runs: they
    /// are what a kill during an earlier export left (names `.OUT.tmp-PID-RANDOM`).
    static func removeAbandonedStaging(for out: String) {
        let parent = (out as NSString).deletingLastPathComponent
        let prefix = "." + (out as NSString).lastPathComponent + AtomicFile.temporaryMarker
        let folder = parent.isEmpty ? "." : parent
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }) else { continue }
            if pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(atPath: folder + "/" + name)
            }
        }
    }
}
