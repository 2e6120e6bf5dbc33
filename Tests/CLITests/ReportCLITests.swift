// `report` on two short runs of the tiny Gemma-3 (different lr and seed): the HTML page and one SVG
// per chart are written, and a real browser renders the page: headless Chromium takes a screenshot
// (a PNG of the requested size, not blank) and its DOM holds every chart's title and both runs.
// Skipped only when Chromium is absent outside CI (tools/setup.sh installs it).

import Foundation
import TestSupport
import XCTest

final class ReportCLITests: XCTestCase {
    static let titles = ["Training loss", "Dev accuracy by step", "Dev accuracy by wall-clock", "Learning rate",
                         "Projected gradient", "Step time", "Peak memory"]

    private func chromium() throws -> String {
        if let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return path }
        try MissingResource.report("chromium not installed (tools/setup.sh installs it)")
    }

    /// Runs `tool arguments`, returning stdout; stderr goes to a file (Chromium is chatty).
    private func run(_ tool: String, _ arguments: [String], scratch: TemporaryFolder) throws -> (Int32, Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, data)
    }

    func testReportOfTwoRunsRendersInHeadlessChromium() throws {
        let browser = try chromium()
        let model = try TinyModelFolder("report-model")
        let data = try TemporaryFolder.tinySST2("report-data"), out = try TemporaryFolder("report-out")
        removeAtTearDown(model.remove, data.remove, out.remove)
        for (name, lr, seed) in [("run-a", "1e-3", "0"), ("run-b", "3e-3", "1")] {
            let trained = try CLI.run(["train", "--model", model.path, "--task", "sst2", "--data", data.path, "--steps", "30",
                                       "--batch-size", "2", "--train-examples", "6", "--lr", lr, "--seed", seed,
                                       "--eval-every", "10", "--out", out.path + "/" + name])
            XCTAssertEqual(trained.status, 0, trained.summary)
        }
        let html = out.path + "/report.html", svgs = out.path + "/svg"
        let report = try CLI.run(["report", out.path + "/run-a", out.path + "/run-b", "--html", html, "--svg", svgs, "--json"])
        guard let summary = singleJSONObject(report) else { return }
        XCTAssertEqual((summary["runs"] as? [[String: Any]])?.count, 2, report.summary)
        let charts = try XCTUnwrap(summary["charts"] as? [String], report.summary)
        XCTAssertEqual(charts.count, Self.titles.count)
        for id in charts {
            let svg = try String(contentsOfFile: svgs + "/\(id).svg", encoding: .utf8)
            XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("run-a") && svg.contains("run-b"), id)
        }
        let page = try String(contentsOfFile: html, encoding: .utf8)
        // Self-contained: no script, and no address but the SVG namespace (nothing to fetch).
        XCTAssertFalse(page.contains("<script"), "the page must not need a script")
        let addresses = page.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
        XCTAssertFalse(addresses.contains("http://") || addresses.contains("https://") || addresses.contains("src="),
                       "the page must not load anything")

        let png = out.path + "/report.png"
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=" + out.path + "/profile"]
        let (shotStatus, _) = try run(browser, flags + ["--screenshot=" + png, "--window-size=1400,1200", "file://" + html], scratch: out)
        XCTAssertEqual(shotStatus, 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "not a PNG")
        // IHDR: width and height, big-endian, at bytes 16..<24.
        let be = { (o: Int) in bytes[o..<(o + 4)].reduce(0) { $0 << 8 | Int($1) } }
        XCTAssertEqual(be(16), 1400)
        XCTAssertEqual(be(20), 1200)
        XCTAssertGreaterThan(bytes.count, 30_000, "a blank page compresses to a few KB; the charts do not")

        let (domStatus, dom) = try run(browser, flags + ["--dump-dom", "file://" + html], scratch: out)
        XCTAssertEqual(domStatus, 0)
        let text = String(decoding: dom, as: UTF8.self)
        for title in Self.titles + ["run-a", "run-b", "Training report"] {
            XCTAssertTrue(text.contains(title), "the rendered DOM lacks \"\(title)\"")
        }
    }
}
