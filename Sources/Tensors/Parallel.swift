import Dispatch
import Foundation

/// How many threads the engine's own kernels and OpenBLAS use. Set once by the CLI (`--threads`).
public enum Threads {
    /// Defaults to every core the process may run on.
    public private(set) static var count: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Sets the thread count for our kernels and for OpenBLAS.
    public static func set(_ n: Int) {
        count = max(1, n)
        BLAS.setThreads(count)
    }
}

/// Splits 0..<count into at most `threads` contiguous chunks and runs `body` on each in parallel.
/// Chunks never overlap, so bodies may write disjoint parts of a shared buffer.
@inline(__always)
public func parallelFor(_ count: Int, threads: Int = Threads.count, minChunk: Int = 1,
                        _ body: (Range<Int>) -> Void) {
    if count <= 0 { return }
    let chunks = max(1, min(threads, count / max(1, minChunk)))
    if chunks == 1 { body(0..<count); return }
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let start = count * c / chunks
        let end = count * (c + 1) / chunks
        if start < end { body(start..<end) }
    }
}
