// Runs the built `zofinetune` executable as a user would: a child process with its own stdout and
// stderr, a time limit, and the outcome kept whole (how it ended, status, both streams).

import Foundation
import XCTest

/// How one run of the binary ended.
struct CLIResult {
    let arguments: [String]
    let reason: Process.TerminationReason
    let status: Int32
    let stdout: String
    let stderr: String

    /// For assertion messages: the command line and what it printed.
    var summary: String {
        "zofinetune \(arguments.joined(separator: " ")) -> "
            + (reason == .exit ? "exit \(status)" : "signal \(status)")
            + "\n--- stdout:\n\(stdout.prefix(2000))\n--- stderr:\n\(stderr.prefix(4000))"
    }
}

enum CLI {
    /// The executable SwiftPM built next to the test bundle (CLITests depends on the
    /// `zofinetune` target, so `swift test` builds it into the same products folder).
    static func binary() throws -> URL {
        var folders: [URL] = [Bundle(for: CLIMarker.self).bundleURL.deletingLastPathComponent()]
        if let main = Bundle.main.executableURL { folders.append(main.deletingLastPathComponent()) }
        folders.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        // On Linux the .xctest is itself the executable; on macOS the bundle sits in the folder.
        folders += folders.map { $0.deletingLastPathComponent() }
        for folder in folders {
            let candidate = folder.appendingPathComponent("zofinetune")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
        }
        throw CLIFailure("zofinetune executable not found beside the test bundle (looked in "
                         + folders.map(\.path).joined(separator: ", ") + ")")
    }

    /// Runs `zofinetune arguments...` with stdout and stderr going to temporary files (a pipe
    /// could fill and block the child), killing it after `timeout` seconds.
    static func run(_ arguments: [String], timeout: TimeInterval = 120,
                    environment extra: [String: String] = [:]) throws -> CLIResult {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("zf-cli-run-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout"), errURL = scratch.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        defer { try? out.close(); try? err.close() }

        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        process.currentDirectoryURL = scratch
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            _ = finished.wait(timeout: .now() + 10)
            throw CLIFailure("zofinetune \(arguments.joined(separator: " ")) did not finish in \(Int(timeout)) s (killed)")
        }
        return CLIResult(
            arguments: arguments, reason: process.terminationReason, status: process.terminationStatus,
            stdout: String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self),
            stderr: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self))
    }
}

/// Any class of this bundle, for `Bundle(for:)`.
private final class CLIMarker {}

struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension XCTestCase {
    /// Runs each `remove` (of a temporary model or data folder) when the test ends, pass or fail.
    func removeAtTearDown(_ removes: (() -> Void)...) {
        for remove in removes { addTeardownBlock(remove) }
    }

    /// The run ended by itself (no signal, so no crash), with a non-zero status, saying on stderr
    /// everything in `mentions`, and printed no result on stdout.
    func assertCleanFailure(_ result: CLIResult, mentions: [String],
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.reason, .exit, "killed by a signal (a crash)\n\(result.summary)", file: file, line: line)
        XCTAssertNotEqual(result.status, 0, "a broken input must fail\n\(result.summary)", file: file, line: line)
        XCTAssertFalse(result.stderr.contains("Program crashed") || result.stderr.contains("Fatal error"),
                       "crash report on stderr\n\(result.summary)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains("Error: "), "no error message\n\(result.summary)", file: file, line: line)
        for text in mentions {
            XCTAssertTrue(result.stderr.contains(text), "stderr does not mention \"\(text)\"\n\(result.summary)",
                          file: file, line: line)
        }
        XCTAssertFalse(result.stdout.contains("{"), "a failed run printed a result\n\(result.summary)",
                       file: file, line: line)
    }

    /// Exactly one JSON object on stdout (the --json contract).
    func singleJSONObject(_ result: CLIResult, file: StaticString = #filePath, line: UInt = #line) -> [String: Any]? {
        XCTAssertEqual(result.reason, .exit, result.summary, file: file, line: line)
        XCTAssertEqual(result.status, 0, result.summary, file: file, line: line)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.count == 1,
              let object = try? JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any] else {
            XCTFail("stdout is not exactly one JSON object\n\(result.summary)", file: file, line: line)
            return nil
        }
        return object
    }
}
