// `train --distributed` under Open MPI's mpirun on the tiny Gemma-3 folder (two ranks, one thread
// each, on whatever cores the machine has): data-parallel MeZO gives the seed log, the last weights
// and the export of the single-process run bit for bit; a rank killed with SIGKILL ends the job
// with a message within seconds and one process resumes the run bitwise; the single-process binary
// does not link libmpi and runs without Open MPI; AdamW data parallel sends the whole gradient.

import Foundation
import XCTest

final class DistributedCLITests: XCTestCase {
    /// 8-example batches of a 48-sentence training split (sentences made from SST-2-like words).
    static let options = ["--task", "sst2", "--batch-size", "8", "--train-examples", "48", "--eval-every", "0",
                          "--lr", "1e-3", "--threads", "1"]

    func makeFolders(_ label: String) throws -> (TinyModelFolder, TemporaryFolder, TemporaryFolder) {
        let model = try TinyModelFolder("mpi-\(label)")
        let data = try TemporaryFolder("mpi-\(label)-data"), runs = try TemporaryFolder("mpi-\(label)-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        let words = ["a", "great", "movie", "it", "was", "terrible", "and", "dull", "the", "film", "is", "delight",
                     "an", "awful", "boring", "charming", "often", "affecting", "journey"]
        var generator = SplitMix(seed: 7)
        let rows = (0..<48).map { i in
            "\(i % 2)\t" + (0..<(2 + Int(generator.next() % 11))).map { _ in words[Int(generator.next() % UInt64(words.count))] }
                .joined(separator: " ")
        }
        try data.write("train.tsv", "label\tsentence\n" + rows.joined(separator: "\n") + "\n")
        try data.write("dev.tsv", "label\tsentence\n" + rows.prefix(4).joined(separator: "\n") + "\n")
        return (model, data, runs)
    }

    func testDataParallelMeZOIsBitwiseTheSingleProcessRun() throws {
        let (model, data, runs) = try makeFolders("data")
        let common = ["train", "--model", model.path, "--data", data.path, "--steps", "20"] + Self.options
        let single = try CLI.run(common + ["--micro-batch", "4", "--out", runs.path + "/single", "--json"])
        XCTAssertNotNil(singleJSONObject(single))
        let two = try MPIRun.run(ranks: 2, common + ["--distributed", "data", "--out", runs.path + "/two", "--json"])
        guard let summary = singleJSONObject(two) else { return }
        XCTAssertEqual(summary["ranks"] as? Int, 2)
        // Two passes a step, 4 losses of 8 bytes each to the other rank.
        XCTAssertEqual(summary["bytes_sent_per_step"] as? Double, 64, two.summary)
        let manifest = try String(contentsOfFile: runs.path + "/two/run.json", encoding: .utf8)
        XCTAssertTrue(manifest.contains("\"micro_batch\" : 4"), manifest)

        try assertSameRun(runs.path + "/single", runs.path + "/two", steps: 20)
        try assertSameExport(model: model.path, runs.path + "/single", runs.path + "/two", scratch: runs.path)
    }

    func testPipelineMeZOIsBitwiseTheSingleProcessRunAndResumesOnOtherRankCounts() throws {
        let (model, data, runs) = try makeFolders("pipeline")
        let common = ["train", "--model", model.path, "--data", data.path] + Self.options
        let single = try CLI.run(common + ["--steps", "20", "--micro-batch", "4", "--out", runs.path + "/single", "--json"])
        XCTAssertNotNil(singleJSONObject(single))
        let pipelined = try MPIRun.run(ranks: 2, common + ["--steps", "20", "--distributed", "pipeline", "--out", runs.path + "/two", "--json"])
        guard let summary = singleJSONObject(pipelined) else { return }
        XCTAssertEqual((summary["peak_rss_bytes_per_rank"] as? [Int])?.count, 2, pipelined.summary)
        // Stage 0 sends each micro-batch's residual stream (tokens × hidden f32) to stage 1.
        XCTAssertGreaterThan(summary["bytes_sent_per_step"] as? Double ?? 0, 0, pipelined.summary)
        // The streamed base fingerprint is the one a single process computes from the whole arena.
        let manifests = try ["single", "two"].map {
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runs.path + "/\($0)/run.json"))) as! [String: Any]
        }
        XCTAssertEqual(manifests[0]["base_fingerprint"] as? String, manifests[1]["base_fingerprint"] as? String)
        try assertSameRun(runs.path + "/single", runs.path + "/two", steps: 20)
        try assertSameExport(model: model.path, runs.path + "/single", runs.path + "/two", scratch: runs.path)

        // 10 steps on two stages, 5 more on two stages (each replays the log onto its part), the
        // last 5 data-parallel on three ranks: still the single-process run.
        let run = runs.path + "/resumed"
        let first = try MPIRun.run(ranks: 2, common + ["--steps", "10", "--distributed", "pipeline", "--out", run])
        XCTAssertEqual(first.status, 0, first.summary)
        let resume = ["train", "--model", model.path, "--data", data.path, "--task", "sst2", "--threads", "1", "--resume", run]
        let second = try MPIRun.run(ranks: 2, resume + ["--steps", "15", "--distributed", "pipeline"])
        XCTAssertEqual(second.status, 0, second.summary)
        let third = try MPIRun.run(ranks: 3, resume + ["--steps", "20", "--distributed", "data"])
        XCTAssertEqual(third.status, 0, third.summary)
        try assertSameRun(runs.path + "/single", run, steps: 20)
    }

    func testKilledRankStopsTheJobAndOneProcessResumesBitwise() throws {
        let (model, data, runs) = try makeFolders("kill")
        let run = runs.path + "/killed"
        let common = ["train", "--model", model.path, "--data", data.path] + Self.options
        let job = try MPIRun.start(ranks: 2, common + ["--steps", "1000000", "--distributed", "data", "--out", run])
        // Wait for some steps, then kill rank 1 (the youngest zofinetune child of this mpirun).
        let deadline = Date().addingTimeInterval(60)
        while (try? RunLog.records(run).count) ?? 0 < 5, Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        let ranks = try MPIRun.children(of: job.process.processIdentifier)
        XCTAssertEqual(ranks.count, 2, "mpirun's zofinetune children: \(ranks)")
        guard let victim = ranks.max() else { return }
        let killed = Date()
        kill(victim, SIGKILL)
        let outcome = job.wait(timeout: 30)
        let seconds = Date().timeIntervalSince(killed)
        XCTAssertLessThanOrEqual(seconds, 10, "the job took \(seconds) s to stop after a rank died")
        XCTAssertNotEqual(outcome.status, 0, outcome.summary)
        XCTAssertTrue(outcome.stderr.contains("exited on signal 9"), outcome.summary)
        for pid in ranks { XCTAssertFalse(MPIRun.isRunning(pid), "rank process \(pid) still alive") }

        // Every logged step is one both ranks finished; one process continues the run.
        let done = try RunLog.records(run).count
        XCTAssertGreaterThanOrEqual(done, 5)
        let target = done + 6
        let resumed = try CLI.run(["train", "--model", model.path, "--data", data.path, "--task", "sst2", "--threads", "1",
                                   "--resume", run, "--steps", "\(target)", "--json"])
        XCTAssertEqual(singleJSONObject(resumed)?["steps"] as? Int, target)
        let reference = try CLI.run(common + ["--steps", "\(target)", "--micro-batch", "4", "--out", runs.path + "/whole", "--json"])
        XCTAssertNotNil(singleJSONObject(reference))
        try assertSameRun(runs.path + "/whole", run, steps: target)
        try assertSameExport(model: model.path, runs.path + "/whole", run, scratch: runs.path)
    }

    func testSingleProcessNeedsNoOpenMPI() throws {
        let ldd = try MPIRun.capture("/usr/bin/ldd", [try CLI.binary().path])
        XCTAssertTrue(ldd.contains("libc.so"), ldd)
        XCTAssertFalse(ldd.contains("libmpi"), "zofinetune links Open MPI:\n\(ldd)")

        // A machine without Open MPI: the library cannot be found. Training runs; --distributed
        // says what is missing.
        let (model, data, runs) = try makeFolders("none")
        let missing = ["ZOFINETUNE_MPI_LIBRARY": "/nonexistent/libmpi.so.40"]
        let common = ["train", "--model", model.path, "--data", data.path, "--steps", "2"] + Self.options
        let plain = try CLI.run(common + ["--out", runs.path + "/plain", "--json"], environment: missing)
        XCTAssertNotNil(singleJSONObject(plain))
        let distributed = try CLI.run(common + ["--distributed", "data", "--out", runs.path + "/d"], environment: missing)
        assertCleanFailure(distributed, mentions: ["cannot open Open MPI", "/nonexistent/libmpi.so.40", "openmpi-bin"])
    }

    func testAdamWDataParallelSendsTheWholeGradient() throws {
        let (model, data, runs) = try makeFolders("adamw")
        let common = ["train", "--model", model.path, "--data", data.path, "--steps", "3", "--optimizer", "adamw",
                      "--task", "sst2", "--batch-size", "8", "--train-examples", "48", "--eval-every", "0", "--threads", "1"]
        let two = try MPIRun.run(ranks: 2, common + ["--distributed", "data", "--out", runs.path + "/two", "--json"])
        guard let summary = singleJSONObject(two) else { return }
        // Ring allreduce of the f32 gradient: 2(N−1)/N of it, the whole arena for two ranks, plus
        // the 8-byte loss.
        let weights = try model.readWeights()
        let parameters = try weights.header.keys.filter { $0 != "__metadata__" }.map { name -> Int in
            (try weights.entry(name)["shape"] as! [Int]).reduce(1, *)
        }.reduce(0, +)
        XCTAssertEqual(summary["bytes_sent_per_step"] as? Double, Double(parameters * 4 + 8), two.summary)
    }

    // MARK: - Comparisons

    func assertSameRun(_ a: String, _ b: String, steps: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let ra = try RunLog.records(a), rb = try RunLog.records(b)
        XCTAssertEqual(ra.count, steps, file: file, line: line)
        XCTAssertEqual(rb.count, steps, file: file, line: line)
        for (i, (x, y)) in zip(ra, rb).enumerated() where x != y {
            XCTFail("step \(i) differs:\n\(x)\n\(y)", file: file, line: line)
            return
        }
    }

    /// The exported tensors (header metadata names the run, so only the data is compared).
    func assertSameExport(model: String, _ a: String, _ b: String, scratch: String,
                          file: StaticString = #filePath, line: UInt = #line) throws {
        var data: [Data] = []
        for (i, run) in [a, b].enumerated() {
            let out = scratch + "/export-\(i)-\(UUID().uuidString)"
            let result = try CLI.run(["export", "--model", model, "--run", run, "--at", "last", "--out", out])
            XCTAssertEqual(result.status, 0, result.summary, file: file, line: line)
            data.append(try SafeTensorsBytes(Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))).data)
        }
        XCTAssertTrue(data[0] == data[1], "exported weights differ", file: file, line: line)
    }
}

/// The step records of a run's log.jsonl, as JSON text with sorted keys (timings left out).
enum RunLog {
    static func records(_ run: String) throws -> [String] {
        let text = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let record = object["record"] as? [String: Any],
                  let json = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else { return nil }
            return String(decoding: json, as: UTF8.self)
        }
    }
}

/// A deterministic generator for the test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Open MPI's launcher with the settings a test needs: root allowed (CI runs as root), more ranks
/// than cores allowed (--oversubscribe), one thread per rank (--threads 1 in the arguments).
enum MPIRun {
    static let launcher = "/usr/bin/mpirun"
    static let environment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                              "OMPI_MCA_rmaps_base_oversubscribe": "1"]

    struct Job {
        let process: Process
        let arguments: [String]
        let out: URL, err: URL

        func wait(timeout: TimeInterval) -> CLIResult {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { process.terminate(); process.waitUntilExit() }
            return CLIResult(arguments: arguments, reason: process.terminationReason, status: process.terminationStatus,
                             stdout: String(decoding: (try? Data(contentsOf: out)) ?? Data(), as: UTF8.self),
                             stderr: String(decoding: (try? Data(contentsOf: err)) ?? Data(), as: UTF8.self))
        }
    }

    static func start(ranks: Int, _ arguments: [String]) throws -> Job {
        guard FileManager.default.isExecutableFile(atPath: launcher) else {
            throw CLIFailure("\(launcher) not found: install Open MPI (tools/setup.sh: apt-get install openmpi-bin libopenmpi-dev)")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("zf-mpirun-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let out = scratch.appendingPathComponent("stdout"), err = scratch.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher)
        let all = ["--oversubscribe", "-np", "\(ranks)", try CLI.binary().path] + arguments
        process.arguments = all
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        return Job(process: process, arguments: all, out: out, err: err)
    }

    static func run(ranks: Int, _ arguments: [String], timeout: TimeInterval = 180) throws -> CLIResult {
        try start(ranks: ranks, arguments).wait(timeout: timeout)
    }

    /// Process ids of the `zofinetune` processes whose parent is `pid` (mpirun starts the ranks itself on one node).
    static func children(of pid: Int32) throws -> [Int32] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            let name = stat[stat.index(after: stat.firstIndex(of: "(")!)..<close]
            return fields.count > 2 && Int32(fields[1]) == pid && name == "zofinetune"
        }
    }

    /// True while `pid` exists and is not a zombie (a container's init may never reap the ranks).
    static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    /// Output of a short command.
    static func capture(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process(), pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
