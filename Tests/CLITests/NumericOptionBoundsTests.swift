// Every numeric option of every command at 0, −1, its type's largest value, 1e308, inf and nan,
// through the built CLI on the tiny Gemma-3 folder: each run ends by itself (no signal, no
// timeout), a refusal names the option, and the values outside every option's range (−1, the
// type's maximum, 1e308, inf, nan) are refused. A value a command accepts is run for real (one
// training step, a short evaluation), so an accepted extreme value cannot trap later either.
// The table is checked against the sources: a numeric @Option without a row fails the test.

import Foundation
import TestSupport
import XCTest

final class NumericOptionBoundsTests: XCTestCase {
    enum Kind { case int, uint64, float, double }

    /// One option: the command line it is tried on (the value is appended after `--flag`), its
    /// type, and whether out-of-range values must be refused on this branch.
    struct Row {
        let flag: String
        let kind: Kind
        let command: [String]
        /// false for the optimizer settings, whose rules live with the optimizer options (the
        /// optimizer registry): for them this test asserts only that nothing traps or hangs.
        var strict = true
    }

    static let values = ["0", "-1", "MAX", "1e308", "inf", "nan"]

    func maxValue(_ kind: Kind) -> String {
        switch kind {
        case .int: return String(Int.max)
        case .uint64: return String(UInt64.max)
        case .float: return "\(Float.greatestFiniteMagnitude)"
        case .double: return "\(Double.greatestFiniteMagnitude)"
        }
    }

    func rows(model: String, data: String, out: String) -> [Row] {
        let task = ["--model", model, "--task", "sst2", "--data", data, "--threads", "1"]
        let trainBase = ["train"] + task + ["--steps", "1", "--batch-size", "2", "--eval-every", "0", "--lr", "1e-3", "--out", out]
        let train = trainBase + ["--train-examples", "6"]   // the tiny train.tsv's six rows
        let eval = ["eval"] + task + ["--limit", "2"]
        let diagnose = ["diagnose"] + task + ["--what", "fd", "--batch-size", "2", "--fd-seeds", "1"]
        let profile = ["profile", "--model", model, "--data", data, "--methods", "inference", "--steps", "1",
                       "--batch-size", "2", "--seq-len", "8"]
        let bench = ["bench", "--threads", "1", "--limit", "0", "--tokens", "16"]
        let zo = { (o: String) in train + ["--optimizer", o] }
        var rows: [Row] = [
            Row(flag: "--steps", kind: .int, command: train),
            Row(flag: "--batch-size", kind: .int, command: train),
            Row(flag: "--train-examples", kind: .int, command: train),
            Row(flag: "--k-shot", kind: .int, command: trainBase),
            Row(flag: "--seed", kind: .uint64, command: train),
            Row(flag: "--eval-every", kind: .int, command: train),
            Row(flag: "--eval-examples", kind: .int, command: train),
            Row(flag: "--patience", kind: .int, command: ["train"] + task + ["--steps", "1", "--batch-size", "2", "--eval-every", "1",
                                                                     "--lr", "1e-3", "--out", out, "--train-examples", "6"]),
            Row(flag: "--check-every", kind: .int, command: train),
            Row(flag: "--micro-batch", kind: .int, command: train),
            Row(flag: "--threads", kind: .int, command: train),
            Row(flag: "--lora-rank", kind: .int, command: train + ["--peft", "lora"]),
            Row(flag: "--lora-alpha", kind: .float, command: train + ["--peft", "lora"]),
            Row(flag: "--prefix-tokens", kind: .int, command: train + ["--peft", "prefix"]),
            Row(flag: "--temperature", kind: .float, command: train),
            Row(flag: "--max-new-tokens", kind: .int, command: ["prompt", "--model", model, "--threads", "1", "it was"]),
            Row(flag: "--demonstrations", kind: .int, command: eval),
            Row(flag: "--limit", kind: .int, command: ["eval"] + task),
            Row(flag: "--memory-limit", kind: .double, command: profile),
            Row(flag: "--seq-len", kind: .int, command: profile),
            Row(flag: "--fd-seeds", kind: .int, command: diagnose),
            Row(flag: "--probes", kind: .int, command: diagnose),
            Row(flag: "--power-iterations", kind: .int, command: diagnose),
            Row(flag: "--max-q", kind: .int, command: diagnose),
            Row(flag: "--kernel-examples", kind: .int, command: diagnose),
            Row(flag: "--kernel-max-q", kind: .int, command: diagnose),
            Row(flag: "--train-perturbations", kind: .int, command: diagnose),
            Row(flag: "--mezo-steps", kind: .int, command: bench),
            Row(flag: "--bf16-agreement-seeds", kind: .int, command: bench),
            Row(flag: "--drift-steps", kind: .int, command: bench),
            Row(flag: "--fo-steps", kind: .int, command: bench),
            Row(flag: "--tokens", kind: .int, command: bench),
            Row(flag: "--encoder-batch-size", kind: .int, command: bench),
            Row(flag: "--repeats", kind: .int, command: bench),
        ]
        // Optimizer settings (their rules: the optimizer options).
        rows += [
            Row(flag: "--lr", kind: .float, command: train),
            Row(flag: "--eps", kind: .float, command: train),
            Row(flag: "--perturbations", kind: .int, command: train),
            Row(flag: "--weight-decay", kind: .float, command: train),
            Row(flag: "--auto-fraction", kind: .float, command: train + ["--lr", "auto"]),
            Row(flag: "--momentum", kind: .float, command: zo("zo-momentum")),
            Row(flag: "--hessian-smooth", kind: .float, command: zo("hizoo")),
            Row(flag: "--lozo-rank", kind: .int, command: zo("lozo")),
            Row(flag: "--lozo-interval", kind: .int, command: zo("lozo")),
            Row(flag: "--sparse-quantile", kind: .float, command: zo("sparse-mezo")),
            Row(flag: "--max-grad-norm", kind: .float, command: zo("sgd")),
            Row(flag: "--beta1", kind: .float, command: zo("adamw")),
            Row(flag: "--beta2", kind: .float, command: zo("adamw")),
        ]
        return rows
    }

    func testEveryNumericOptionAtItsExtremesIsRefusedByNameOrRunsWithoutASignal() throws {
        let model = try TinyModelFolder("bounds")
        let data = try TemporaryFolder.tinySST2("bounds-data"), runs = try TemporaryFolder("bounds-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        var tried = 0
        for row in rows(model: model.path, data: data.path, out: runs.path + "/run") {
            for value in Self.values {
                let given = value == "MAX" ? maxValue(row.kind) : value
                // A fresh --out for every run that may be accepted (train refuses an existing run).
                try? FileManager.default.removeItem(atPath: runs.path + "/run")
                let result = try CLI.run(row.command + [row.flag, given], timeout: 180)
                tried += 1
                let label = "\(row.flag) \(given)"
                XCTAssertEqual(result.reason, .exit, "\(label): killed by a signal\n\(result.summary)")
                XCTAssertFalse(result.stderr.contains("Fatal error") || result.stderr.contains("Program crashed"),
                               "\(label): crash report\n\(result.summary)")
                if result.status != 0, row.strict {
                    XCTAssertTrue(result.stderr.contains(row.flag), "\(label): the refusal does not name \(row.flag)\n\(result.summary)")
                }
                // Outside every range: a negative count, the largest Int, any non-finite real.
                let mustRefuse = value == "-1" || value == "1e308" || value == "inf" || value == "nan"
                    || (value == "MAX" && row.kind != .uint64)
                if row.strict, mustRefuse {
                    XCTAssertNotEqual(result.status, 0, "\(label) must be refused\n\(result.summary)")
                }
            }
        }
        XCTAssertEqual(tried, rows(model: "", data: "", out: "").count * Self.values.count)
    }

    /// Every numeric @Option in Sources/zofinetune has a row above (a new option must add one).
    func testTheTableCoversEveryNumericOption() throws {
        let folder = Repo.root + "/Sources/zofinetune"
        let covered = Set(rows(model: "", data: "", out: "").map(\.flag))
        var missing: [String] = []
        let pattern = try NSRegularExpression(
            pattern: #"@Option\b((?:(?!@Option|\bfunc\s)[\s\S])*?)\bvar\s+(\w+)\s*(?::\s*(Int|Float|Double|UInt64|LearningRateOption)\??|=\s*(-?[0-9][0-9_.e-]*)\s*$)"#,
            options: [.anchorsMatchLines])
        // Recursively: the commands and option groups live in subfolders.
        let files = (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String]) ?? []
        for file in files where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let attributes = String(text[Range(match.range(at: 1), in: text)!])
                let name = String(text[Range(match.range(at: 2), in: text)!])
                let custom = attributes.range(of: #"customLong\("([^"]+)"\)"#, options: .regularExpression)
                    .map { String(attributes[$0].dropFirst("customLong(\"".count).dropLast(2)) }
                let flag = "--" + (custom ?? name.replacingOccurrences(of: "([a-z0-9])([A-Z])", with: "$1-$2", options: .regularExpression).lowercased())
                if !covered.contains(flag) { missing.append("\(flag) (\(file))") }
            }
        }
        XCTAssertEqual(missing, [], "numeric options without a row in NumericOptionBoundsTests")
    }
}
