/// Backward of the embedding lookup x[r] = E[tokens[r]] · scale:
///   dE[tokens[r]] += scale · dx[r]     (a scatter-add: repeated tokens add up)
///
///   dx: (rows, dim)   dEmbedding: (V, dim), accumulated (for tied models it also receives the
///   output head's gradient).
/// Threads split the columns, so no two write the same element whatever the token repeats.
public func embeddingBackward(dEmbedding: UnsafeMutablePointer<Float>, dx: UnsafePointer<Float>,
                              tokens: [Int32], dim: Int, scale: Float, threads: Int = Threads.count) {
    let blocks = (dim + vecWidth - 1) / vecWidth
    tokens.withUnsafeBufferPointer { ids in
        parallelFor(blocks, threads: ids.count * dim >= 1 << 16 ? threads : 1) { range in
            let lo = range.lowerBound * vecWidth, hi = min(dim, range.upperBound * vecWidth)
            for (r, t) in ids.enumerated() {
                axpy(scale, dx + r * dim + lo, dEmbedding + Int(t) * dim + lo, hi - lo)
            }
        }
    }
}
