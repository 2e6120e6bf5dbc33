// What a run folder survives, through the CLI on the tiny Qwen3 fixture: SIGKILL at random
// moments (tools/check/kill_harness.py with a few kills; the full 50+ is a script), a second writer,
// a full disk (a size-limited tmpfs mounted by the test), and an export over a folder in use.

import Foundation
import TestSupport
import XCTest

final class RunFolderSafetyCLITests: XCTestCase {
    /// A small SST-2-shaped data folder.
    func tinyData() throws -> TemporaryFolder {
        let data = try TemporaryFolder("safety-data")
        removeAtTearDown(data.remove)
        let rows = ["1\ta great movie", "0\tit was terrible and dull", "1\tthe film is a delight", "0\tan awful , boring film",
                    "1\ta charming and often affecting journey", "0\tdull", "1\twarm and funny", "0\ttoo long and too slow"]
        try data.write("train.tsv", "label\tsentence\n" + rows.joined(separator: "\n") + "\n")
        try data.write("dev.tsv", "label\tsentence\n" + rows.prefix(6).joined(separator: "\n") + "\n")
        return data
    }

    func testKillsAnywhereResumeToTheSameBits() throws {
        let binary = try CLI.binary().path
        let harness = Repo.root + "/tools/check/kill_harness.py"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", harness, "--binary", binary, "--kills", "10", "--steps", "120", "--seed", "5"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: stdout, as: UTF8.self) + String(decoding: stderr, as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, text)
        let summary = try JSONSerialization.jsonObject(with: stdout) as? [String: Any]
        XCTAssertEqual(summary?["bitwise_equal"] as? Bool, true, text)
        XCTAssertGreaterThanOrEqual(summary?["kills"] as? Int ?? 0, 10, text)
        XCTAssertGreaterThanOrEqual(summary?["during_export"] as? Int ?? 0, 1, text)
    }

    func testSecondWriterIsRefusedUntilTheFirstIsKilled() throws {
        let model = try assemble(model: "tiny-qwen3-bpe", vocabulary: "bpe-qwen2")
        let data = try tinyData(), runs = try TemporaryFolder("safety-lock")
        removeAtTearDown(runs.remove)
        let run = runs.path + "/run"
        let common = ["--model", model.path, "--task", "sst2", "--data", data.path]
        // A run long enough to still be going while the second writer tries.
        let first = Process()
        first.executableURL = try CLI.binary()
        first.arguments = ["train"] + common + ["--steps", "1000000", "--batch-size", "2", "--train-examples", "8",
                                                "--eval-every", "0", "--out", run]
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(60)
        while (try? String(contentsOfFile: run + "/log.jsonl", encoding: .utf8))?.contains("seeds") != true, Date() < deadline {
            usleep(20_000)
        }
        let second = try CLI.run(["train"] + common + ["--resume", run])
        assertCleanFailure(second, mentions: ["\(run) is in use by another zofinetune process (process \(first.processIdentifier))"])
        let sameOut = try CLI.run(["train"] + common + ["--out", run, "--steps", "2"])
        assertCleanFailure(sameOut, mentions: [run])

        // SIGKILL: no cleanup code runs, yet the kernel drops the lock with the process.
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let resumed = try CLI.run(["train"] + common + ["--resume", run, "--steps", "3", "--json"])
        XCTAssertGreaterThanOrEqual(singleJSONObject(resumed)?["steps"] as? Int ?? 0, 3, resumed.summary)

        // export --out: an empty folder is fine, a non-empty one needs --force.
        let out = runs.path + "/export"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        XCTAssertEqual(try CLI.run(["export", "--model", model.path, "--run", run, "--out", out]).status, 0)
        let again = try CLI.run(["export", "--model", model.path, "--run", run, "--out", out])
        assertCleanFailure(again, mentions: ["\(out) is not empty", "--force"])
        let forced = try CLI.run(["export", "--model", model.path, "--run", run, "--out", out, "--force"])
        XCTAssertEqual(forced.status, 0, forced.summary)
    }

    /// Mounts a tmpfs of `size` at a new folder; nil (after a skip, or a failure in CI) when not permitted.
    func smallFileSystem(size: String) throws -> String {
        let mountPoint = try TemporaryFolder("safety-tmpfs")
        removeAtTearDown(mountPoint.remove)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", mountPoint.path]
        mount.standardError = FileHandle.nullDevice
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else {
            let why = "cannot mount a tmpfs at \(mountPoint.path) (needs root / CAP_SYS_ADMIN)"
            try MissingResource.report(why + "; CI runs as root, so this must work there")
        }
        addTeardownBlock { Self.unmount(mountPoint.path) }
        return mountPoint.path
    }

    static func unmount(_ path: String) {
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/bin/umount")
        umount.arguments = [path]
        try? umount.run()
        umount.waitUntilExit()
    }

    func testFullDiskStopsNamingTheFileAndResumeFinishesBitwise() throws {
        let disk = try smallFileSystem(size: "640k")
        let model = try assemble(model: "tiny-qwen3-bpe", vocabulary: "bpe-qwen2")
        let data = try tinyData(), runs = try TemporaryFolder("safety-disk")
        removeAtTearDown(runs.remove)
        let settings = ["--model", model.path, "--task", "sst2", "--data", data.path, "--steps", "2000", "--batch-size", "2",
                        "--train-examples", "8", "--eval-every", "500", "--eval-examples", "4", "--lr", "1e-3"]
        let reference = runs.path + "/reference", run = disk + "/run"
        XCTAssertEqual(try CLI.run(["train"] + settings + ["--out", reference]).status, 0)

        // 2,000 steps log ~630 kB and a snapshot is 250 kB: 640 kB fill up on the way.
        let full = try CLI.run(["train"] + settings + ["--out", run])
        assertCleanFailure(full, mentions: ["No space left on device", run + "/"])
        XCTAssertTrue(full.stderr.contains("log.jsonl") || full.stderr.contains(".safetensors"), full.summary)

        // Space freed (the file system grown): the run continues from its log and ends bitwise.
        let grow = Process()
        grow.executableURL = URL(fileURLWithPath: "/bin/mount")
        grow.arguments = ["-o", "remount,size=8m", disk]
        try grow.run()
        grow.waitUntilExit()
        XCTAssertEqual(grow.terminationStatus, 0)
        let resumed = try CLI.run(["train", "--model", model.path, "--task", "sst2", "--data", data.path, "--resume", run, "--json"])
        XCTAssertEqual(singleJSONObject(resumed)?["steps"] as? Int, 2000, resumed.summary)
        for name in ["weights-last.safetensors", "weights-best.safetensors"] {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: run + "/" + name)),
                           try Data(contentsOf: URL(fileURLWithPath: reference + "/" + name)), "\(name) differs from the uninterrupted run's")
        }
        XCTAssertEqual(try stepRecords(run), try stepRecords(reference))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.contains(".tmp-") }, [])
    }

    /// log.jsonl without timings and peak memory (measurements, not results).
    func stepRecords(_ run: String) throws -> [String] {
        try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n").map {
            $0.replacingOccurrences(of: #""seconds":[0-9.e+-]+,?"#, with: "", options: .regularExpression)
                .replacingOccurrences(of: #",?"vmhwm":[0-9]+"#, with: "", options: .regularExpression)
        }
    }

    /// A NaN in a weight: every loss is NaN, so the first step is skipped and the run stops naming
    /// that step and the tensor; no snapshot of such weights is ever written.
    func testNaNWeightStopsTheRunNamingTheStepAndWritesNoSnapshot() throws {
        let model = try assemble(model: "tiny-qwen3-bpe", vocabulary: "bpe-qwen2")
        var weights = try SafeTensorsBytes(Data(contentsOf: model.file("model.safetensors")))
        let name = "model.layers.1.mlp.down_proj.weight"
        let offset = ((try weights.entry(name))["data_offsets"] as! [Int])[0] + 4 * 5   // element 5
        var data = weights.whole
        let start = weights.whole.count - weights.data.count + offset
        data.replaceSubrange(start..<start + 4, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
        try data.write(to: model.file("model.safetensors"))
        weights = try SafeTensorsBytes(data)
        let data2 = try tinyData(), runs = try TemporaryFolder("safety-nan")
        removeAtTearDown(runs.remove)
        let common = ["--model", model.path, "--task", "sst2", "--data", data2.path, "--steps", "5", "--batch-size", "2",
                      "--train-examples", "8"]
        let noEval = try CLI.run(["train"] + common + ["--eval-every", "0", "--out", runs.path + "/a"])
        assertCleanFailure(noEval, mentions: ["step 1: weight tensor '\(name)' element 5 is not finite"])
        // With an evaluation first, the best snapshot of step 0 is refused instead.
        let withEval = try CLI.run(["train"] + common + ["--eval-every", "2", "--out", runs.path + "/b"])
        assertCleanFailure(withEval, mentions: ["after 0 steps: tensor '\(name)' element 5 is not finite"])
        for run in ["a", "b"] {
            let files = try FileManager.default.contentsOfDirectory(atPath: runs.path + "/" + run)
            XCTAssertFalse(files.contains { $0.hasSuffix(".safetensors") }, "\(run): \(files)")
        }
    }
}
