import Foundation
import XCTest

/// Paths shared by the model tests. The repository root is found from this file's location.
enum Repo {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }   // Tests/ModelsTests/FixturePaths.swift
        return url.path
    }()
    static func fixture(_ name: String) -> String { root + "/Tests/Fixtures/" + name }

    /// The real Gemma-3-270M folder made by tools/fetch_model.py.
    static var gemmaDirectory: String { root + "/models/gemma-3-270m" }

    /// SST-2: $SST2_DIR, else ../shared/data/sst2 beside the repository, else data/sst2.
    static var sst2Directory: String? {
        let candidates = [ProcessInfo.processInfo.environment["SST2_DIR"],
                          root + "/../shared/data/sst2", root + "/data/sst2"].compactMap { $0 }
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/dev.tsv") }
    }

    /// Real-model tests fail when the model is missing (CI always fetches it); a developer without
    /// it may set ZOFINETUNE_ALLOW_MISSING_MODEL=1 to skip them instead.
    static func requireGemma() throws -> String {
        let dir = gemmaDirectory
        if FileManager.default.fileExists(atPath: dir + "/model.safetensors") { return dir }
        if ProcessInfo.processInfo.environment["ZOFINETUNE_ALLOW_MISSING_MODEL"] == "1" {
            throw XCTSkip("\(dir) missing; run python3 tools/fetch_model.py")
        }
        XCTFail("\(dir) missing; run python3 tools/fetch_model.py (or set ZOFINETUNE_ALLOW_MISSING_MODEL=1)")
        throw XCTSkip("model missing")
    }
}
