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

    /// The real Gemma-3-270M folder made by tools/setup/fetch_model.py.
    public static var gemmaDirectory: String { root + "/models/gemma-3-270m" }

    /// SST-2: $SST2_DIR, else ../shared/data/sst2 beside the repository, else data/sst2.
    public static var sst2Directory: String? {
        let candidates = [ProcessInfo.processInfo.environment["SST2_DIR"],
                          root + "/../shared/data/sst2", root + "/data/sst2"].compactMap { $0 }
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/dev.tsv") }
    }

    /// Real-model tests fail when the model is missing (`MissingResource`).
    public static func requireGemma() throws -> String {
        let dir = gemmaDirectory
        if FileManager.default.fileExists(atPath: dir + "/model.safetensors") { return dir }
        try MissingResource.report("\(dir) missing; run python3 tools/setup/fetch_model.py")
    }
}

extension Repo {
    /// Reference dumps of transformers on the real model, written by tools/reference/reference_real_model.py
    /// (run by .ci/run after the model is fetched).
    public static var referenceDirectory: String { root + "/models/reference" }

    public static func requireReference(_ file: String) throws -> String {
        let path = referenceDirectory + "/" + file
        if FileManager.default.fileExists(atPath: path) { return path }
        try MissingResource.report("\(path) missing; run python3 tools/reference/reference_real_model.py (see .ci/run)")
    }
}

extension Repo {
    /// sentence-transformers' all-MiniLM-L6-v2, fetched by tools/setup/fetch_encoder.py.
    public static var minilmDirectory: String { root + "/models/all-minilm-l6-v2" }

    /// Like `requireGemma`: a missing model is a `MissingResource`.
    public static func requireMiniLM() throws -> String {
        let dir = minilmDirectory
        if FileManager.default.fileExists(atPath: dir + "/model.safetensors") { return dir }
        try MissingResource.report("\(dir) missing; run python3 tools/setup/fetch_encoder.py")
    }
}

/// The one way a test reacts to a missing model, SST-2, reference dump, tool (python packages,
/// chromium, a tmpfs mount) or CPU feature (AVX512_BF16). In CI (`CI=true`, which .ci/run sets) it is
/// always a failure, so a broken set-up step cannot turn the suite green by skipping; elsewhere a
/// developer without the files may set ZOFINETUNE_ALLOW_MISSING_MODEL=1 to skip instead (reported
/// as skipped, not passed); by default it fails too.
public enum MissingResource {
    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }

    public static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Records why and ends the test: a skip when allowed, otherwise a failure.
    public static func report(_ why: String, file: StaticString = #filePath, line: UInt = #line) throws -> Never {
        if !inCI, ProcessInfo.processInfo.environment["ZOFINETUNE_ALLOW_MISSING_MODEL"] == "1" {
            throw XCTSkip(why + " (skipped: ZOFINETUNE_ALLOW_MISSING_MODEL=1)")
        }
        let how = inCI ? "CI=true: a missing resource fails the test" : "set ZOFINETUNE_ALLOW_MISSING_MODEL=1 to skip"
        XCTFail("\(why) (\(how))", file: file, line: line)
        throw Missing(description: why)
    }
}

extension Repo {
    /// SST-2's folder, or the missing-resource outcome naming how to get it.
    public static func requireSST2(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        if let dir = sst2Directory { return dir }
        try MissingResource.report("SST-2 not found ($SST2_DIR, ../shared/data/sst2, data/sst2); run tools/setup/fetch_sst2.sh",
                                   file: file, line: line)
    }
}
