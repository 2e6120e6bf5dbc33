/// Backward of `geluForward` (exact GELU): dx = dy · (Φ(x) + x · φ(x)).
///   dy, x, dx: (count); dx may alias dy.
public func geluBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                         count: Int, threads: Int = Threads.count) {
    OpTimer.measure(.activation) {
        parallelFor(count, threads: threads, minChunk: 1 << 14) { range in
            let base = range.lowerBound
            forEachVector(range.count) { i, n in
                let d = loadPartial(dy + base + i, n) * vgeluErfDerivative(loadPartial(x + base + i, n))
                storePartial(d, dx + base + i, n)
            }
        }
    }
}
