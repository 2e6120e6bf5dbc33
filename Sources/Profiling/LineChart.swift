import Foundation

/// Lines over a shared x axis, several series overlaid (one per run in `report`), each optionally
/// with a faint raw trace under its smoothed line, drawn on the same `SVGCanvas` as `profile`'s bars.
public struct LineChart {
    public struct Series {
        public var name: String
        public var colour: String
        /// (x, y) in order of x; non-finite y values are gaps.
        public var points: [(Double, Double)]
        /// Drawn thin and faint under `points` (the unsmoothed values).
        public var raw: [(Double, Double)]
        /// Draw a dot at every point (few points, e.g. dev evaluations).
        public var markers: Bool

        public init(name: String, colour: String, points: [(Double, Double)], raw: [(Double, Double)] = [], markers: Bool = false) {
            (self.name, self.colour, self.points, self.raw, self.markers) = (name, colour, points, raw, markers)
        }
    }

    public var title: String
    public var subtitle: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// Format of y tick labels' unit suffix (e.g. "%" or " GB"), appended to the number.
    public var yUnit: String

    public init(title: String, subtitle: String, xLabel: String, yLabel: String, yUnit: String = "", series: [Series]) {
        (self.title, self.subtitle, self.xLabel, self.yLabel, self.yUnit, self.series) = (title, subtitle, xLabel, yLabel, yUnit, series)
    }

    /// Colours for series in order (colour-blind-safe Tableau 10).
    public static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

    public var svg: String {
        var canvas = SVGCanvas(width: 760, height: 360, left: 70, right: 190, top: 56, bottom: 46)
        canvas.heading(title, subtitle: subtitle)
        let all = series.flatMap { $0.points + $0.raw }.filter { $0.0.isFinite && $0.1.isFinite }
        guard let xMin0 = all.map(\.0).min(), let xMax0 = all.map(\.0).max(),
              let yMin0 = all.map(\.1).min(), let yMax0 = all.map(\.1).max() else {
            canvas.add("<text x=\"\(canvas.left)\" y=\"\(SVGCanvas.f(canvas.top + 40))\" fill=\"#888\">no data in these runs</text>")
            return canvas.svg
        }
        let xStep = SVGCanvas.tickStep(low: xMin0, high: xMax0)
        let xMin = (xMin0 / xStep).rounded(.down) * xStep, xMax = max(xMin + xStep, (xMax0 / xStep).rounded(.up) * xStep)
        let pad = yMax0 == yMin0 ? max(abs(yMax0) * 0.05, 1e-9) : 0
        let yStep = SVGCanvas.tickStep(low: yMin0 - pad, high: yMax0 + pad, count: 5)
        let yMin = ((yMin0 - pad) / yStep).rounded(.down) * yStep, yMax = max(yMin + yStep, ((yMax0 + pad) / yStep).rounded(.up) * yStep)
        func x(_ v: Double) -> Double { canvas.left + canvas.plotWidth * (v - xMin) / (xMax - xMin) }
        func y(_ v: Double) -> Double { canvas.top + canvas.plotHeight * (1 - (v - yMin) / (yMax - yMin)) }

        var v = yMin
        while v <= yMax + yStep * 1e-6 {
            canvas.horizontalGridLine(y: y(v), label: SVGCanvas.tickLabel(v, step: yStep) + yUnit)
            v += yStep
        }
        v = xMin
        while v <= xMax + xStep * 1e-6 {
            canvas.verticalGridLine(x: x(v), label: SVGCanvas.tickLabel(v, step: xStep))
            v += xStep
        }
        canvas.add("<text x=\"\(SVGCanvas.f(canvas.left + canvas.plotWidth / 2))\" y=\"\(SVGCanvas.f(canvas.height - 8))\" text-anchor=\"middle\" fill=\"#333\">\(SVGCanvas.escape(xLabel))</text>")
        canvas.add("<text transform=\"translate(16 \(SVGCanvas.f(canvas.top + canvas.plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" fill=\"#333\">\(SVGCanvas.escape(yLabel))</text>")
        canvas.add("<rect x=\"\(canvas.left)\" y=\"\(canvas.top)\" width=\"\(SVGCanvas.f(canvas.plotWidth))\" height=\"\(SVGCanvas.f(canvas.plotHeight))\" fill=\"none\" stroke=\"#999\"/>")

        func path(_ points: [(Double, Double)]) -> String {
            var d = "", pen = false
            for (px, py) in points {
                guard px.isFinite, py.isFinite else { pen = false; continue }
                d += (pen ? "L" : "M") + SVGCanvas.f(x(px)) + "," + SVGCanvas.f(y(py)) + " "
                pen = true
            }
            return d
        }
        // Runs without this quantity (e.g. logged before it was recorded) get no legend entry.
        let drawn = series.filter { s in (s.points + s.raw).contains { $0.0.isFinite && $0.1.isFinite } }
        for (i, s) in drawn.enumerated() {
            if !s.raw.isEmpty {
                canvas.add("<path d=\"\(path(s.raw))\" fill=\"none\" stroke=\"\(s.colour)\" stroke-opacity=\"0.25\" stroke-width=\"1\"/>")
            }
            canvas.add("<path d=\"\(path(s.points))\" fill=\"none\" stroke=\"\(s.colour)\" stroke-width=\"2\"><title>\(SVGCanvas.escape(s.name))</title></path>")
            if s.markers {
                for (px, py) in s.points where px.isFinite && py.isFinite {
                    canvas.add("<circle cx=\"\(SVGCanvas.f(x(px)))\" cy=\"\(SVGCanvas.f(y(py)))\" r=\"3\" fill=\"\(s.colour)\"><title>\(SVGCanvas.escape(s.name)): \(String(format: "%g", px)), \(String(format: "%g", py))\(SVGCanvas.escape(yUnit))</title></circle>")
                }
            }
            canvas.legendEntry(i, label: s.name, colour: s.colour, line: true)
        }
        return canvas.svg
    }
}
