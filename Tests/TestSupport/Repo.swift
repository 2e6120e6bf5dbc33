import Foundation
import XCTest

/// Paths shared by the test targets. The repository root is found from this file's location.
public enum Repo {
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }   // Tests/TestSupport/Repo.swift
        return url.path
    }()
    public static func fixture(_ name: String) -> String { root + "/Tests/Fixtures/" + name }

    /// The real Gemma-3-270M folder made by tools/fetch_model.py.
    public static var gemmaDirectory: String { root + "/models/gemma-3-270m" }

    /// SST-2: $SST2_DIR, else ../shared/data/sst2 beside the repository, else data/sst2.
    public static var sst2Directory: String? {
        let candidates = [ProcessInfo.processInfo.environment["SST2_DIR"],
                          root + "/../shared/data/sst2", root + "/data/sst2"].compactMap { $0 }
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/dev.tsv") }
    }

    /// Real-model tests fail when the model is missing (CI always fetches it); a developer without
    /// it may set ZOFINETUNE_ALLOW_MISSING_MODEL=1 to skip them instead.
    public static func requireGemma() throws -> String {
        let dir = gemmaDirectory
        if FileManager.default.fileExists(atPath: dir + "/model.safetensors") { return dir }
        if ProcessInfo.processInfo.environment["ZOFINETUNE_ALLOW_MISSING_MODEL"] == "1" {
            throw XCTSkip("\(dir) missing; run python3 tools/fetch_model.py")
        }
        XCTFail("\(dir) missing; run python3 tools/fetch_model.py (or set ZOFINETUNE_ALLOW_MISSING_MODEL=1)")
        throw XCTSkip("model missing")
    }
}

extension Repo {
    /// Reference dumps of transformers on the real model, written by tools/reference_real_model.py
    /// (run by .ci/run after the model is fetched).
    public static var referenceDirectory: String { root + "/models/reference" }

    public static func requireReference(_ file: String) throws -> String {
        let path = referenceDirectory + "/" + file
        if FileManager.default.fileExists(atPath: path) { return path }
        if ProcessInfo.processInfo.environment["ZOFINETUNE_ALLOW_MISSING_MODEL"] == "1" {
            throw XCTSkip("\(path) missing; run tools/reference_real_model.py")
        }
        XCTFail("\(path) missing; run python3 tools/reference_real_model.py (see .ci/run)")
        throw XCTSkip("reference missing")
    }
}

extension Repo {
    /// sentence-transformers' all-MiniLM-L6-v2, fetched by tools/fetch_encoder.py.
    public static var minilmDirectory: String { root + "/models/all-minilm-l6-v2" }

    /// Like `requireGemma`: fails when missing (CI fetches it) unless ZOFINETUNE_ALLOW_MISSING_MODEL=1.
    public static func requireMiniLM() throws -> String {
        let dir = minilmDirectory
        if FileManager.default.fileExists(atPath: dir + "/model.safetensors") { return dir }
        if ProcessInfo.processInfo.environment["ZOFINETUNE_ALLOW_MISSING_MODEL"] == "1" {
            throw XCTSkip("\(dir) missing; run python3 tools/fetch_encoder.py")
        }
        XCTFail("\(dir) missing; run python3 tools/fetch_encoder.py (or set ZOFINETUNE_ALLOW_MISSING_MODEL=1)")
        throw XCTSkip("model missing")
    }
}
