import Foundation
import Tensors

extension MemoryReport {
    /// Colours of the stacked segments, baseline first.
    static let palette: [(key: String, label: String, colour: String)] = [
        ("baseline", "process baseline", "#b8b8b8"),
        (MemoryTag.weights.rawValue, "weights", "#3b6fb6"),
        (MemoryTag.activations.rawValue, "activations", "#e8923a"),
        (MemoryTag.gradients.rawValue, "gradients", "#c8443c"),
        (MemoryTag.optimizer.rawValue, "optimizer state", "#7b55a8"),
        (MemoryTag.scratch.rawValue, "scratch", "#4c9a5a"),
        ("untagged", "untagged", "#e4e4e4"),
    ]

    /// A bar chart a person can read: one bar per method, stacked by tag on top of the process
    /// baseline, the measured peak RSS written above it and the prediction marked by a dashed line.
    /// A method that would not fit is drawn as its predicted outline.
    public var svg: String {
        var canvas = SVGCanvas(width: 760, height: 440, left: 70, right: 190, top: 56, bottom: 50)
        let width = canvas.width, right = canvas.right, left = canvas.left, top = canvas.top
        let plotW = canvas.plotWidth, plotH = canvas.plotHeight
        func segments(_ m: MethodMemory) -> [(String, Int)] {
            guard m.status == .measured, let peak = m.peakRSSBytes, let base = m.baselineBytes else { return [] }
            var parts: [(String, Int)] = [("baseline", base)]
            for tag in MemoryTag.allCases { parts.append((tag.rawValue, m.tagged[tag.rawValue] ?? 0)) }
            parts.append(("untagged", max(0, peak - base - m.taggedTotal)))
            return parts
        }
        let tallest = methods.map { m -> Int in
            max(m.peakRSSBytes ?? 0, (m.baselineBytes ?? methods.compactMap(\.baselineBytes).first ?? 0) + m.predictedTotal)
        }.max() ?? 1
        let gb = 1e9
        let tick = [0.25, 0.5, 1, 2, 5, 10].first { Double(tallest) / gb / $0 <= 6 } ?? 10
        let yMax = (Double(tallest) / gb / tick).rounded(.up) * tick
        func y(_ bytes: Double) -> Double { top + plotH * (1 - bytes / gb / yMax) }

        canvas.heading("Peak memory per method: \(model)",
                       subtitle: "batch \(batchSize) × \(seqLen) tokens, \(threads) threads; bars: measured VmHWM split by tag; dashed: predicted")
        var v = 0.0
        while v <= yMax + 1e-9 {
            canvas.horizontalGridLine(y: y(v * gb), label: String(format: tick < 1 ? "%.2f" : "%.0f", v) + " GB")
            v += tick
        }
        var s = ""
        let slot = plotW / Double(max(1, methods.count))
        let barW = min(90, slot * 0.55)
        for (i, m) in methods.enumerated() {
            let x = left + slot * (Double(i) + 0.5) - barW / 2
            var acc = 0.0
            for (key, bytes) in segments(m) where bytes > 0 {
                let colour = Self.palette.first { $0.key == key }?.colour ?? "#999"
                let y0 = y(acc + Double(bytes)), h = y(acc) - y0
                s += "<rect x=\"\(f(x))\" y=\"\(f(y0))\" width=\"\(f(barW))\" height=\"\(f(h))\" fill=\"\(colour)\"><title>\(key): \(String(format: "%.0f", Double(bytes) / 1e6)) MB</title></rect>\n"
                acc += Double(bytes)
            }
            let base = Double(m.baselineBytes ?? methods.compactMap(\.baselineBytes).first ?? 0)
            let predictedTop = y(base + Double(m.predictedTotal))
            s += "<line x1=\"\(f(x - 6))\" y1=\"\(f(predictedTop))\" x2=\"\(f(x + barW + 6))\" y2=\"\(f(predictedTop))\" stroke=\"black\" stroke-dasharray=\"5,3\"/>\n"
            let label: String
            if m.status == .measured, let peak = m.peakRSSBytes {
                label = String(format: "%.2f GB", Double(peak) / gb)
            } else {
                s += "<rect x=\"\(f(x))\" y=\"\(f(predictedTop))\" width=\"\(f(barW))\" height=\"\(f(y(0) - predictedTop))\" fill=\"none\" stroke=\"#c8443c\" stroke-dasharray=\"4,3\"/>\n"
                label = m.status == .wouldNotFit ? "would not fit" : "failed"
            }
            let labelY = min(y(acc), predictedTop) - 8
            s += "<text x=\"\(f(x + barW / 2))\" y=\"\(f(labelY))\" text-anchor=\"middle\" font-weight=\"bold\">\(label)</text>\n"
            s += "<text x=\"\(f(x + barW / 2))\" y=\"\(f(y(0) + 18))\" text-anchor=\"middle\">\(escape(m.method))</text>\n"
        }
        s += "<line x1=\"\(left)\" y1=\"\(f(y(0)))\" x2=\"\(left + plotW)\" y2=\"\(f(y(0)))\" stroke=\"#333\"/>\n"
        canvas.add(s)
        s = ""
        for (i, entry) in Self.palette.enumerated() { canvas.legendEntry(i, label: entry.label, colour: entry.colour) }
        let ly = top + 8 + Double(Self.palette.count) * 20 + 7
        s += "<line x1=\"\(f(width - right + 18))\" y1=\"\(f(ly))\" x2=\"\(f(width - right + 36))\" y2=\"\(f(ly))\" stroke=\"black\" stroke-dasharray=\"5,3\"/>\n"
        s += "<text x=\"\(f(width - right + 40))\" y=\"\(f(ly + 4))\">predicted peak</text>\n"
        if let r = ratio("mezo", over: "inference"), let a = ratio("adamw", over: "mezo") {
            s += "<text x=\"\(f(width - right + 20))\" y=\"\(f(ly + 34))\">MeZO / inference: \(String(format: "%.2f", r))×</text>\n"
            s += "<text x=\"\(f(width - right + 20))\" y=\"\(f(ly + 52))\">AdamW / MeZO: \(String(format: "%.2f", a))×</text>\n"
        }
        canvas.add(s)
        return canvas.svg
    }

    private func f(_ x: Double) -> String { SVGCanvas.f(x) }
    private func escape(_ text: String) -> String { SVGCanvas.escape(text) }
}
