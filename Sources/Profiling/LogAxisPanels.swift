import Foundation

/// Line plots on log axes, several panels side by side, as one SVG (the drawing style of
/// `MemoryReport.svg`: white page, grey grid, titles in Helvetica). Used by `diagnose`.
public struct LogAxisPanels: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var colour: String
        public var points: [(x: Double, y: Double)]
        public var dashed: Bool
        public init(name: String, colour: String, points: [(x: Double, y: Double)], dashed: Bool = false) {
            (self.name, self.colour, self.points, self.dashed) = (name, colour, points, dashed)
        }
    }

    public struct Panel: Sendable {
        public var title: String
        public var xLabel: String
        public var yLabel: String
        public var logY: Bool
        public var series: [Series]
        public init(title: String, xLabel: String, yLabel: String, logY: Bool = true, series: [Series]) {
            (self.title, self.xLabel, self.yLabel, self.logY, self.series) = (title, xLabel, yLabel, logY, series)
        }
    }

    public var title: String
    public var subtitle: String
    public var panels: [Panel]

    public init(title: String, subtitle: String, panels: [Panel]) {
        (self.title, self.subtitle, self.panels) = (title, subtitle, panels)
    }

    public static let palette = ["#3b6fb6", "#e8923a", "#c8443c", "#7b55a8", "#4c9a5a", "#555555"]

    public var svg: String {
        let panelW = 380.0, panelH = 300.0, gap = 30.0, top = 60.0
        let width = Double(max(1, panels.count)) * (panelW + gap) + gap
        let height = top + panelH + 20
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="11">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(gap)" y="22" font-size="16" font-weight="bold">\(escape(title))</text>
            <text x="\(gap)" y="40" fill="#555">\(escape(subtitle))</text>

            """
        for (p, panel) in panels.enumerated() {
            s += draw(panel, x0: gap + Double(p) * (panelW + gap), y0: top, w: panelW, h: panelH)
        }
        return s + "</svg>\n"
    }

    func draw(_ panel: Panel, x0: Double, y0: Double, w: Double, h: Double) -> String {
        let left = 55.0, bottom = 40.0, topPad = 20.0
        let plotW = w - left - 10, plotH = h - bottom - topPad
        let all = panel.series.flatMap(\.points).filter { $0.x > 0 && $0.y.isFinite && (!panel.logY || $0.y > 0) }
        guard !all.isEmpty else { return "<text x=\"\(f(x0))\" y=\"\(f(y0 + 20))\">\(escape(panel.title)): no data</text>\n" }
        let lx = all.map { log10($0.x) }
        let ly = all.map { panel.logY ? log10($0.y) : $0.y }
        var (xLo, xHi) = (lx.min()!.rounded(.down), lx.max()!.rounded(.up))
        var (yLo, yHi) = panel.logY ? (ly.min()!.rounded(.down), ly.max()!.rounded(.up)) : (min(0, ly.min()!), max(1, ly.max()!))
        if xHi == xLo { xHi += 1; xLo -= 1 }
        if yHi == yLo { yHi += 1; yLo -= 1 }
        func px(_ x: Double) -> Double { x0 + left + plotW * (log10(x) - xLo) / (xHi - xLo) }
        func py(_ y: Double) -> Double { y0 + topPad + plotH * (1 - ((panel.logY ? log10(y) : y) - yLo) / (yHi - yLo)) }
        var s = "<text x=\"\(f(x0 + left))\" y=\"\(f(y0 + 12))\" font-weight=\"bold\">\(escape(panel.title))</text>\n"
        for e in stride(from: xLo, through: xHi, by: 1) {
            let xx = px(pow(10, e))
            s += "<line x1=\"\(f(xx))\" y1=\"\(f(y0 + topPad))\" x2=\"\(f(xx))\" y2=\"\(f(y0 + topPad + plotH))\" stroke=\"#eee\"/>\n"
            s += "<text x=\"\(f(xx))\" y=\"\(f(y0 + topPad + plotH + 14))\" text-anchor=\"middle\">1e\(Int(e))</text>\n"
        }
        let yStep = panel.logY ? max(1, ((yHi - yLo) / 6).rounded(.up)) : (yHi - yLo) / 4
        for e in stride(from: yLo, through: yHi + 1e-9, by: yStep) {
            let value = panel.logY ? pow(10, e) : e
            let yy = py(value)
            s += "<line x1=\"\(f(x0 + left))\" y1=\"\(f(yy))\" x2=\"\(f(x0 + left + plotW))\" y2=\"\(f(yy))\" stroke=\"#eee\"/>\n"
            s += "<text x=\"\(f(x0 + left - 4))\" y=\"\(f(yy + 4))\" text-anchor=\"end\">\(panel.logY ? "1e\(Int(e))" : String(format: "%.2g", e))</text>\n"
        }
        s += "<rect x=\"\(f(x0 + left))\" y=\"\(f(y0 + topPad))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        s += "<text x=\"\(f(x0 + left + plotW / 2))\" y=\"\(f(y0 + topPad + plotH + 30))\" text-anchor=\"middle\">\(escape(panel.xLabel))</text>\n"
        s += "<text transform=\"translate(\(f(x0 + 12)),\(f(y0 + topPad + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(panel.yLabel))</text>\n"
        for (i, series) in panel.series.enumerated() {
            let pts = series.points.filter { $0.x > 0 && $0.y.isFinite && (!panel.logY || $0.y > 0) }
            guard !pts.isEmpty else { continue }
            let path = pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(series.colour)\" stroke-width=\"2\"\(series.dashed ? " stroke-dasharray=\"5,3\"" : "")/>\n"
            if !series.dashed {
                for p in pts { s += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"2.5\" fill=\"\(series.colour)\"/>\n" }
            }
            let ly = y0 + topPad + 14 + Double(i) * 14
            s += "<line x1=\"\(f(x0 + left + plotW - 130))\" y1=\"\(f(ly - 4))\" x2=\"\(f(x0 + left + plotW - 112))\" y2=\"\(f(ly - 4))\" stroke=\"\(series.colour)\" stroke-width=\"2\"\(series.dashed ? " stroke-dasharray=\"5,3\"" : "")/>\n"
            s += "<text x=\"\(f(x0 + left + plotW - 108))\" y=\"\(f(ly))\">\(escape(series.name))</text>\n"
        }
        return s
    }

    private func f(_ x: Double) -> String { String(format: "%.1f", x) }
    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
