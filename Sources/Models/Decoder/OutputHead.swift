import Foundation
import Tensors

extension DecoderModel {
    /// Full-vocabulary logits.   hidden: (rows, C) → (rows, V)
    public func logits(hidden: UnsafePointer<Float>, rows: Int) -> [Float] {
        let V = config.vocabSize, C = config.hiddenSize
        var out = [Float](repeating: 0, count: rows * V)
        out.withUnsafeMutableBufferPointer { o in
            if let heads {
                heads.logits(hidden, o.baseAddress!, rows: rows)
            } else {
                BLAS.linear(hidden, outputHead, o.baseAddress!, m: rows, n: V, k: C)
            }
            if let cap = config.finalLogitSoftcap {
                for i in 0..<o.count { o[i] = cap * tanhf(o[i] / cap) }
            }
        }
        return out
    }

    /// Logits of the `candidates` rows of the output embedding only (docs/ARCHITECTURE.md, decision 4): for
    /// comparisons between a few label words the softmax normaliser cancels.
    ///   hidden: (rows, C) → (rows, candidates.count)
    public func candidateLogits(hidden: UnsafePointer<Float>, rows: Int, candidates: [Int32]) -> [Float] {
        let C = config.hiddenSize, K = candidates.count
        var out = [Float](repeating: 0, count: rows * K)
        if let heads {
            // bf16: each candidate row widened once (perturbed as the forward reads it).
            var row = [Float](repeating: 0, count: C)   // (C)
            for (j, id) in candidates.enumerated() {
                precondition(id >= 0 && Int(id) < config.vocabSize, "candidate id \(id) outside the vocabulary")
                row.withUnsafeMutableBufferPointer { heads.headRow(Int(id), into: $0.baseAddress!) }
                for r in 0..<rows {
                    var z = dot(hidden + r * C, row, C)
                    if let cap = config.finalLogitSoftcap { z = cap * tanhf(z / cap) }
                    out[r * K + j] = z
                }
            }
            return out
        }
        for r in 0..<rows {
            for (j, id) in candidates.enumerated() {
                precondition(id >= 0 && Int(id) < config.vocabSize, "candidate id \(id) outside the vocabulary")
                var z = dot(hidden + r * C, outputHead + Int(id) * C, C)
                if let cap = config.finalLogitSoftcap { z = cap * tanhf(z / cap) }
                out[r * K + j] = z
            }
        }
        return out
    }
}

/// log Σ exp(x), stable.
public func logSumExp(_ x: UnsafeBufferPointer<Float>) -> Float {
    guard let m = x.max(), m.isFinite else { return x.max() ?? -.infinity }
    var s: Double = 0
    for v in x { s += Foundation.exp(Double(v - m)) }
    return m + Float(Foundation.log(s))
}
