import ArgumentParser
import Foundation
import Profiling
import Training

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Draw the curves of one or more runs: loss, dev metric by step and by wall-clock, lr, gradient, step time, memory.",
        discussion: """
            Reads each run folder's log.jsonl (nothing is recomputed) and draws, with the runs overlaid \
            for comparison: the training loss (MeZO: the mean of L+ and L−; SGD/AdamW: the batch loss; \
            trailing mean, raw values faint), the dev metric against steps and against the run's \
            wall-clock (steps and evaluations, loading not included), the learning rate, the projected \
            gradient |g| (MeZO) or the gradient norm (backprop), the step time and the peak memory \
            (VmHWM; runs logged before it was recorded have none). \
            --html writes one self-contained page (inline SVG, no script, no network); --svg DIR one \
            SVG file per chart. With neither, report.html in the current folder. A summary table goes \
            to stderr (stdout with --json: one JSON object).
            """)

    @Argument(help: ArgumentHelp("Run folders (made by train).", valueName: "run-dir")) var runs: [String]
    @Option(name: .long, help: ArgumentHelp("Write the HTML page here.", valueName: "file")) var html: String?
    @Option(name: .long, help: ArgumentHelp("Write one SVG per chart into this folder.", valueName: "dir")) var svg: String?
    @Flag(name: .long, help: "Print one JSON summary object on stdout.") var json = false

    func validate() throws {
        if runs.isEmpty { throw ValidationError("give at least one run folder") }
    }

    func run() throws {
        let histories = try runs.map { try RunHistory(run: RunFolder(path: $0)) }
        let charts = RunCharts.Built(histories: histories).charts
        if let svg {
            try FileManager.default.createDirectory(atPath: svg, withIntermediateDirectories: true)
            for (id, chart) in charts {
                try Data(chart.svg.utf8).write(to: URL(fileURLWithPath: svg + "/\(id).svg"), options: .atomic)
            }
            log("wrote \(charts.count) SVG files to \(svg)")
        }
        if html != nil || svg == nil {
            let path = html ?? "report.html"
            try Data(RunCharts.page(histories: histories, charts: charts.map(\.1)).utf8)
                .write(to: URL(fileURLWithPath: path), options: .atomic)
            log("wrote \(path)")
        }
        let summaries = histories.map(RunCharts.summary)
        for s in summaries {
            log(s.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "  "))
        }
        if json { try printJSON(["runs": summaries, "charts": charts.map(\.0)]) }
    }
}

/// The report's charts and page, from run histories.
enum RunCharts {
    struct Built {
        let histories: [RunHistory]
        var charts: [(String, LineChart)] {
            func colour(_ i: Int) -> String { LineChart.palette[i % LineChart.palette.count] }
            func perStep(_ value: (RunHistory.Step) -> Double?, smooth: Bool) -> [LineChart.Series] {
                histories.enumerated().map { i, h in
                    let xs = h.steps.map { Double($0.step) }
                    let raw = h.steps.map(value)
                    let window = RunHistory.window(steps: h.steps.count)
                    let points = smooth ? RunHistory.smoothed(raw, window: window) : raw.map { $0 ?? .nan }
                    return LineChart.Series(name: h.name, colour: colour(i), points: Array(zip(xs, points)),
                                            raw: smooth && window > 1 ? Array(zip(xs, raw.map { $0 ?? .nan })) : [])
                }
            }
            let metric = "dev accuracy"   // the log's metric: accuracy, or the task's macro-F1
            let windows = Set(histories.map { RunHistory.window(steps: $0.steps.count) }).sorted().map(String.init).joined(separator: "/")
            let evals: (Bool) -> [LineChart.Series] = { byTime in
                histories.enumerated().map { i, h in
                    LineChart.Series(name: h.name, colour: colour(i), points: h.evaluations.map {
                        (byTime ? $0.wallSeconds / 60 : Double($0.step), $0.metric * 100)
                    }, markers: true)
                }
            }
            return [
                ("training-loss", LineChart(title: "Training loss", subtitle: "MeZO: mean of L+ and L−; SGD/AdamW: batch loss; trailing mean over \(windows) steps, raw values faint",
                                            xLabel: "step", yLabel: "loss", series: perStep({ $0.loss }, smooth: true))),
                ("dev-metric-by-step", LineChart(title: "Dev accuracy by step", subtitle: "\(metric) at each evaluation (step 0: before training)",
                                                 xLabel: "step", yLabel: metric, yUnit: "%", series: evals(false))),
                ("dev-metric-by-time", LineChart(title: "Dev accuracy by wall-clock", subtitle: "minutes of training steps and evaluations (model loading not included)",
                                                 xLabel: "minutes", yLabel: metric, yUnit: "%", series: evals(true))),
                ("learning-rate", LineChart(title: "Learning rate", subtitle: "lr of each step (schedule)", xLabel: "step", yLabel: "lr",
                                            series: perStep({ $0.lr }, smooth: false))),
                ("projected-gradient", LineChart(title: "Projected gradient", subtitle: "MeZO: |g| = |L+ − L−| / 2ε; SGD/AdamW: ‖∇L‖ before clipping; trailing mean, raw faint",
                                                 xLabel: "step", yLabel: "|g|", series: perStep({ $0.gradient }, smooth: true))),
                ("step-time", LineChart(title: "Step time", subtitle: "seconds per training step (evaluations excluded); trailing mean, raw faint",
                                        xLabel: "step", yLabel: "seconds", yUnit: " s", series: perStep({ $0.seconds }, smooth: true))),
                ("peak-memory", LineChart(title: "Peak memory", subtitle: "process VmHWM after each step (runs logged before it was recorded: none)",
                                          xLabel: "step", yLabel: "peak RSS (GB)", series: perStep({ $0.peakBytes.map { Double($0) / 1e9 } }, smooth: false))),
            ]
        }
    }

    static func summary(_ h: RunHistory) -> [String: Any] {
        var s: [String: Any] = ["run": h.path, "optimizer": h.config.optimizer.rawValue, "steps": h.steps.count,
                                "lr": Double("\(h.config.lr)") ?? Double(h.config.lr), "batch_size": h.config.batchSize]
        if let best = h.evaluations.max(by: { $0.metric < $1.metric }) { s["best_metric"] = best.metric; s["best_step"] = best.step }
        if let last = h.evaluations.last { s["last_metric"] = last.metric }
        let times = h.steps.compactMap(\.seconds)
        if !times.isEmpty { s["seconds_per_step"] = times.reduce(0, +) / Double(times.count) }
        if let peak = h.steps.compactMap(\.peakBytes).max() { s["peak_bytes"] = peak }
        return s
    }

    /// A self-contained page: a summary table and every chart inline (no script, no network).
    static func page(histories: [RunHistory], charts: [LineChart]) -> String {
        func e(_ t: String) -> String { SVGCanvas.escape(t) }
        var rows = ""
        for h in histories {
            let s = summary(h)
            let best = (s["best_metric"] as? Double).map { String(format: "%.2f%% (step %d)", $0 * 100, s["best_step"] as? Int ?? 0) } ?? "–"
            let last = (s["last_metric"] as? Double).map { String(format: "%.2f%%", $0 * 100) } ?? "–"
            let time = (s["seconds_per_step"] as? Double).map { String(format: "%.3f s", $0) } ?? "–"
            let peak = (s["peak_bytes"] as? Int).map { String(format: "%.2f GB", Double($0) / 1e9) } ?? "–"
            rows += "<tr><td>\(e(h.name))</td><td>\(e(h.config.task))</td><td>\(h.config.optimizer.rawValue)</td><td>\(h.steps.count)</td>"
                + "<td>\(h.config.batchSize)</td><td>\(h.config.lr)</td><td>\(best)</td><td>\(last)</td><td>\(time)</td><td>\(peak)</td></tr>\n"
        }
        // Each chart's title is its SVG's first text: no heading repeats it.
        let figures = charts.map { "<figure>\n\($0.svg)</figure>" }.joined(separator: "\n")
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>zofinetune report: \(e(histories.map(\.name).joined(separator: ", ")))</title>
            <style>
            body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
            table { border-collapse: collapse; margin-bottom: 16px; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
            td:first-child, th:first-child { text-align: left; }
            figure { margin: 8px 8px 0 0; display: inline-block; vertical-align: top; }
            </style></head>
            <body>
            <h1>Training report</h1>
            <table><tr><th>run</th><th>task</th><th>optimizer</th><th>steps</th><th>batch</th><th>lr</th><th>best dev</th><th>last dev</th><th>step time</th><th>peak memory</th></tr>
            \(rows)</table>
            \(figures)
            </body></html>

            """
    }
}
