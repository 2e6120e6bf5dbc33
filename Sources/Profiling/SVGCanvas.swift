import Foundation

/// What `profile`'s memory bars and `report`'s line charts draw alike: the document with its white
/// background and title, value axes with round ticks, legend entries, numbers and escaped text.
/// Plain strings, no dependency: the SVG goes into files and inline into a self-contained HTML page.
public struct SVGCanvas {
    public let width: Double, height: Double
    /// The plot area inside the margins.
    public let left: Double, right: Double, top: Double, bottom: Double
    public private(set) var body = ""

    public init(width: Double, height: Double, left: Double, right: Double, top: Double, bottom: Double) {
        (self.width, self.height, self.left, self.right, self.top, self.bottom) = (width, height, left, right, top, bottom)
    }

    public var plotWidth: Double { width - left - right }
    public var plotHeight: Double { height - top - bottom }

    /// Appends raw SVG elements.
    public mutating func add(_ element: String) { body += element.hasSuffix("\n") ? element : element + "\n" }

    /// The title (bold, 16 px) and a grey subtitle line above the plot.
    public mutating func heading(_ title: String, subtitle: String) {
        add("<text x=\"\(left)\" y=\"22\" font-size=\"16\" font-weight=\"bold\">\(Self.escape(title))</text>")
        add("<text x=\"\(left)\" y=\"40\" fill=\"#555\">\(Self.escape(subtitle))</text>")
    }

    /// A horizontal grid line with its label at the left of the plot.
    public mutating func horizontalGridLine(y: Double, label: String) {
        add("<line x1=\"\(left)\" y1=\"\(Self.f(y))\" x2=\"\(left + plotWidth)\" y2=\"\(Self.f(y))\" stroke=\"#eee\"/>")
        add("<text x=\"\(left - 8)\" y=\"\(Self.f(y + 4))\" text-anchor=\"end\">\(Self.escape(label))</text>")
    }

    /// A vertical grid line with its label under the plot.
    public mutating func verticalGridLine(x: Double, label: String) {
        add("<line x1=\"\(Self.f(x))\" y1=\"\(top)\" x2=\"\(Self.f(x))\" y2=\"\(top + plotHeight)\" stroke=\"#eee\"/>")
        add("<text x=\"\(Self.f(x))\" y=\"\(Self.f(top + plotHeight + 16))\" text-anchor=\"middle\">\(Self.escape(label))</text>")
    }

    /// A coloured square (or a line, `dashed` or solid) and its label, at the right of the plot.
    public mutating func legendEntry(_ index: Int, label: String, colour: String, line: Bool = false, dashed: Bool = false) {
        let x = width - right + 20, y = top + 8 + Double(index) * 20
        if line {
            add("<line x1=\"\(Self.f(x - 2))\" y1=\"\(Self.f(y + 7))\" x2=\"\(Self.f(x + 16))\" y2=\"\(Self.f(y + 7))\" stroke=\"\(colour)\" stroke-width=\"2.5\"\(dashed ? " stroke-dasharray=\"5,3\"" : "")/>")
        } else {
            add("<rect x=\"\(Self.f(x))\" y=\"\(Self.f(y))\" width=\"14\" height=\"14\" fill=\"\(colour)\"/>")
        }
        add("<text x=\"\(Self.f(x + 20))\" y=\"\(Self.f(y + 11))\">\(Self.escape(label))</text>")
    }

    /// The finished document.
    public var svg: String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + body + "</svg>\n"
    }

    /// A round tick step for an axis from `low` to `high` with at most `count` intervals (1, 2, 2.5 or 5 × 10^k).
    public static func tickStep(low: Double, high: Double, count: Int = 6) -> Double {
        let span = max(high - low, 1e-12)
        let raw = span / Double(count)
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        return [1, 2, 2.5, 5, 10].map { $0 * magnitude }.first { span / $0 <= Double(count) } ?? 10 * magnitude
    }

    /// A tick value as text: no more digits than the step needs.
    public static func tickLabel(_ value: Double, step: Double) -> String {
        if abs(value) < step * 1e-6 { return "0" }
        if abs(value) >= 1e5 || step < 1e-3 { return String(format: "%g", value) }
        let decimals = max(0, Int((-log10(step)).rounded(.up)) + (step * pow(10, (-log10(step)).rounded(.up)) == 2.5 ? 1 : 0))
        return String(format: "%.\(min(decimals, 6))f", value)
    }

    public static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
