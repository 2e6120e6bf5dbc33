import Foundation
import Models
import Tasks
import Tensors
import Training

extension BenchCommand {
    /// Sentence embeddings of the first `limit` SST-2 dev sentences, `encoderBatchSize` at a time:
    /// the same work as sentence-transformers' `model.encode(sentences, batch_size=B)` (tokenise,
    /// forward, mean-pool, normalise), best of `repeats` passes after a warm-up, with the time of
    /// the best pass broken down by kind of work.
    func encoderThroughput(modelDirectory: String, peak: Double) throws -> [String: Any] {
        let embedder = try SentenceEmbedder.load(directory: modelDirectory, batchSize: encoderBatchSize)
        if precision == .bf16 { try embedder.model.useBF16Products() }
        let sentences = try TaskData.load(directory: taskOptions.dataDirectory, split: .dev).prefix(limit).map(\.text)
        // The products of one block at a typical batch (rows = tokens of 32 SST-2 sentences), on
        // all threads and on one: how much the per-product threading costs at this size.
        let c = embedder.model.config, rows = 800
        for (n, k) in [(c.hiddenSize, c.hiddenSize), (3 * c.hiddenSize, c.hiddenSize),
                       (c.intermediateSize, c.hiddenSize), (c.hiddenSize, c.intermediateSize)] {
            let all = sgemmGFLOPs(m: rows, n: n, k: k)
            let threads = Threads.count
            Threads.set(1)
            let one = sgemmGFLOPs(m: rows / 2, n: n, k: k)
            Threads.set(threads)
            log(String(format: "sgemm %5d x %5d x %5d: %6.1f GFLOP/s on %d threads; half the rows on 1 thread %6.1f",
                       rows, n, k, all, threads, one))
        }
        _ = try embedder.embeddings(Array(sentences.prefix(2 * encoderBatchSize)))   // warm-up: pages, thread pools
        var best = Double.infinity
        var parts: [OpTimer.Kind: Double] = [:]
        var tokenizeSeconds = 0.0
        for _ in 0..<max(1, repeats) {
            OpTimer.reset()
            OpTimer.enabled = true
            let start = DispatchTime.now().uptimeNanoseconds
            let ids = try embedder.tokenIDs(sentences)
            let tokenized = DispatchTime.now().uptimeNanoseconds
            _ = embedder.embeddings(ids: ids)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            OpTimer.enabled = false
            if seconds < best {
                best = seconds
                parts = OpTimer.seconds
                tokenizeSeconds = Double(tokenized - start) / 1e9
            }
        }
        let ids = try embedder.tokenIDs(sentences)
        let tokens = ids.reduce(0) { $0 + $1.count }
        var flops = 0.0
        var s = 0
        while s < ids.count {
            flops += embedder.model.matmulFLOPs(PackedBatch(sequences: Array(ids[s..<min(ids.count, s + encoderBatchSize)])))
            s += encoderBatchSize
        }
        log(String(format: "encoder: %d sentences (%d tokens) at batch %d in %.3f s (best of %d): %.1f sentences/s, %.0f tokens/s, %.1f GFLOP/s in matmuls (%.0f%% of the %.0f GFLOP/s sgemm peak)",
                   ids.count, tokens, encoderBatchSize, best, max(1, repeats), Double(ids.count) / best,
                   Double(tokens) / best, flops / best / 1e9, 100 * flops / best / 1e9 / peak, peak))
        log(String(format: "  %-10@ %6.3f s (%4.1f%%)", "tokenize", tokenizeSeconds, 100 * tokenizeSeconds / best))
        for kind in OpTimer.Kind.allCases where kind != .other && parts[kind]! > 0 {
            log(String(format: "  %-10@ %6.3f s (%4.1f%%)", kind.rawValue, parts[kind]!, 100 * parts[kind]! / best))
        }
        let accounted = parts.values.reduce(0, +) + tokenizeSeconds
        log(String(format: "  %-10@ %6.3f s (%4.1f%%)", "rest", best - accounted, 100 * (best - accounted) / best))
        return ["sentences": ids.count, "tokens": tokens, "batch_size": encoderBatchSize, "seconds": best,
                "sentences_per_second": Double(ids.count) / best, "matmul_gflops": flops / best / 1e9,
                "tokenize_seconds": tokenizeSeconds,
                "breakdown_seconds": Dictionary(uniqueKeysWithValues: parts.map { ($0.rawValue, $1) })]
    }
}
