import Foundation
import Tensors

/// What `zofinetune profile` found for one method.
public struct MethodMemory: Codable, Sendable {
    public enum Status: String, Codable, Sendable {
        /// Run in its own process and measured.
        case measured
        /// Not run: the prediction exceeds the memory available.
        case wouldNotFit = "would_not_fit"
        /// The child process failed; `message` says how.
        case failed
    }

    public var method: String
    public var status: Status
    /// VmHWM of the method's process.
    public var peakRSSBytes: Int?
    /// VmRSS just before the model is loaded: runtime, libraries, OpenBLAS buffers, tokenizer, batch.
    public var baselineBytes: Int?
    /// Bytes per tag when the tagged total was highest (TaggedMemory.peak).
    public var tagged: [String: Int] = [:]
    /// Bytes per tag predicted from the model's shape (MemoryPlan).
    public var predicted: [String: Int] = [:]
    public var stepSeconds: [Double] = []
    public var message: String?

    public init(method: String, status: Status) {
        self.method = method
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case method, status, tagged, predicted, message
        case peakRSSBytes = "peak_rss_bytes"
        case baselineBytes = "baseline_bytes"
        case stepSeconds = "step_seconds"
    }

    public var taggedTotal: Int { tagged.values.reduce(0, +) }
    public var predictedTotal: Int { predicted.values.reduce(0, +) }
    /// What the method added to the process: VmHWM − baseline.
    public var measuredAboveBaseline: Int? { peakRSSBytes.flatMap { p in baselineBytes.map { p - $0 } } }
    /// Median step time.
    public var medianStepSeconds: Double? {
        guard !stepSeconds.isEmpty else { return nil }
        let s = stepSeconds.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// The whole profile: the setting and one entry per method, with the renderings.
public struct MemoryReport: Codable, Sendable {
    public var model: String
    public var batchSize: Int
    public var seqLen: Int
    public var threads: Int
    public var availableBytes: Int?
    /// How the workers held the weights ("f32", "bf16": `--weights`); the predictions assume the same.
    public var weights: String?
    public var methods: [MethodMemory]

    public init(model: String, batchSize: Int, seqLen: Int, threads: Int, availableBytes: Int?, weights: String? = nil,
                methods: [MethodMemory]) {
        (self.model, self.batchSize, self.seqLen, self.threads) = (model, batchSize, seqLen, threads)
        (self.availableBytes, self.weights, self.methods) = (availableBytes, weights, methods)
    }

    enum CodingKeys: String, CodingKey {
        case model, threads, methods, weights
        case batchSize = "batch_size"
        case seqLen = "seq_len"
        case availableBytes = "available_bytes"
    }

    public func method(_ name: String) -> MethodMemory? { methods.first { $0.method == name } }

    /// Peak-RSS ratio of two measured methods.
    public func ratio(_ a: String, over b: String) -> Double? {
        guard let pa = method(a)?.peakRSSBytes, let pb = method(b)?.peakRSSBytes, pb > 0 else { return nil }
        return Double(pa) / Double(pb)
    }

    public var json: Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? e.encode(self)) ?? Data()
    }

    /// A fixed-width table: one row per method, sizes in MB.
    public var table: String {
        let tags = MemoryTag.allCases.map(\.rawValue)
        let header = ["method", "peak RSS", "baseline"] + tags + ["untagged", "predicted", "step s"]
        var rows: [[String]] = []
        for m in methods {
            guard m.status == .measured, let peak = m.peakRSSBytes, let base = m.baselineBytes else {
                let note = m.status == .wouldNotFit
                    ? "would not fit: predicted \(mb(m.predictedTotal)) MB above baseline" : "failed: \(m.message ?? "")"
                rows.append([m.method, note])
                continue
            }
            let untagged = peak - base - m.taggedTotal
            rows.append([m.method, mb(peak), mb(base)] + tags.map { mb(m.tagged[$0] ?? 0) }
                        + [mb(untagged), mb(m.predictedTotal), m.medianStepSeconds.map { String(format: "%.2f", $0) } ?? "-"])
        }
        let widths = header.indices.map { i in
            max(header[i].count, rows.filter { $0.count == header.count }.map { $0[i].count }.max() ?? 0)
        }
        func line(_ cells: [String]) -> String {
            if cells.count != header.count { return cells[0].padding(toLength: widths[0], withPad: " ", startingAt: 0) + "  " + cells[1] }
            return cells.enumerated().map { i, c in
                i == 0 ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: widths[i] - c.count) + c
            }.joined(separator: "  ")
        }
        var out = "Peak memory (MB; tags at the peak of tagged memory; predicted = from the model's shape, above baseline"
            + (weights.map { "; \($0) weights" } ?? "") + ")\n"
        out += line(header) + "\n" + rows.map(line).joined(separator: "\n") + "\n"
        if let r = ratio("mezo", over: "inference") { out += String(format: "MeZO / inference peak: %.3f×\n", r) }
        if let r = ratio("adamw", over: "mezo") { out += String(format: "AdamW / MeZO peak: %.2f×\n", r) }
        if let r = ratio("sgd", over: "mezo") { out += String(format: "SGD / MeZO peak: %.2f×\n", r) }
        return out
    }

    func mb(_ bytes: Int) -> String { String(format: "%.0f", Double(bytes) / 1e6) }
}
