import Foundation
import TestSupport
import XCTest

/// python3 with transformers + peft, for the tests that load our adapter folders in peft
/// (LoRACLITests, PrefixTrainCLITests).
enum PeftPython {
    /// python3 ARGS from the repository root; status and stdout + stderr.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: Repo.root)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Skips the test when peft is missing, except under CI, where that is a failure.
    static func require() throws {
        if try run(["-c", "import peft, transformers, torch"]).status != 0 {
            try MissingResource.report("python3 with peft, transformers and torch is needed (tools/setup.sh)")
        }
    }
}
