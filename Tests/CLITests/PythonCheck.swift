import Foundation
import TestSupport
import XCTest

/// python3 for the tests that check the engine's files in transformers and gguf-py
/// (GGUFExportCLITests, TrainedExportReloadCLITests): one JSON object on stdout, the story on stderr.
enum PythonCheck {
    /// Fails (or skips, where allowed: `MissingResource`) unless python3 imports `modules`
    /// ("gguf, transformers, torch").
    static func require(_ modules: String) throws {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import \(modules)"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        try probe.run()
        probe.waitUntilExit()
        if probe.terminationStatus != 0 {
            try MissingResource.report("python3 with \(modules) is needed (tools/setup.sh)")
        }
    }

    /// `python3 ARGUMENTS`: its status, its stdout, and its stderr (written to a file in `scratch`,
    /// so that a long story cannot fill a pipe and block it).
    static func run(_ arguments: [String], scratch: TemporaryFolder) throws -> (status: Int32, stdout: Data, stderr: String) {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3"] + arguments
        let stdout = Pipe(), stderr = scratch.file("check.stderr")
        FileManager.default.createFile(atPath: stderr.path, contents: nil)
        check.standardOutput = stdout
        check.standardError = try FileHandle(forWritingTo: stderr)
        try check.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        check.waitUntilExit()
        return (check.terminationStatus, output, (try? String(contentsOf: stderr, encoding: .utf8)) ?? "")
    }
}
