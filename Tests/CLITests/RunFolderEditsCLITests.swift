// Random hand edits of run folders through the CLI (tools/check/run_folder_edits.py, 100 edits here;
// docs/reliability.md has the 1,000-edit run): tiny runs of every optimizer, LoRA and prefix, each
// edit of run.json or log.jsonl fed to `train --resume`, `eval --run` and `export`. No run may end
// by a signal or a timeout, and every refusal must name the file and the key edited.

import Foundation
import TestSupport
import XCTest

final class RunFolderEditsCLITests: XCTestCase {
    func testRandomRunFolderEditsNeverCrashAndEveryRefusalNamesFileAndKey() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Repo.root + "/tools/check/run_folder_edits.py", "--binary", try CLI.binary().path,
                             "--edits", "100", "--seed", "7"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: stdout, as: UTF8.self) + String(decoding: stderr, as: UTF8.self)
        let summary = try JSONSerialization.jsonObject(with: stdout) as? [String: Any]
        XCTAssertEqual(summary?["crash"] as? Int, 0, text)
        XCTAssertEqual(summary?["refused_unnamed"] as? Int, 0, text)
        XCTAssertEqual(summary?["runs"] as? Int, 300, text)
        // The edits must reach the checks, not only be accepted.
        XCTAssertGreaterThan(summary?["refused_named"] as? Int ?? 0, 100, text)
        XCTAssertEqual(process.terminationStatus, 0, text)
    }
}
