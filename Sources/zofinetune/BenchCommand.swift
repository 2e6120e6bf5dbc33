import ArgumentParser
import Foundation
import Tensors

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure sgemm throughput (the ceiling for every forward pass) on this machine.",
        discussion: "Prints GFLOP/s for square products and for the shapes of a Gemma-3-270M block.")

    @Option(name: .long, help: "Threads (default: every core).")
    var threads: Int?

    @Option(name: .long, help: "Token rows in the model-shaped products.")
    var tokens = 2048

    @Flag(name: .long, help: "Print one JSON object on stdout.")
    var json = false

    func run() throws {
        try BLAS.load()
        Threads.set(threads ?? Threads.count)
        var results: [[String: Any]] = []
        // (m, n, k): a square product, then q/k/v/o and the MLP of Gemma-3-270M at `tokens` rows.
        let shapes = [(2048, 2048, 2048), (tokens, 1024, 640), (tokens, 256, 640), (tokens, 640, 1024),
                      (tokens, 2048, 640), (tokens, 640, 2048)]
        for (m, n, k) in shapes {
            let gflops = sgemmGFLOPs(m: m, n: n, k: k)
            results.append(["m": m, "n": n, "k": k, "gflops": gflops])
            log(String(format: "sgemm %5d x %5d x %5d: %6.1f GFLOP/s", m, n, k, gflops))
        }
        if json {
            try printJSON(["openblas_core": BLAS.coreName, "threads": Threads.count, "sgemm": results])
        }
    }

    /// Best of several runs of y (m, n) = x (m, k) · wᵀ.
    func sgemmGFLOPs(m: Int, n: Int, k: Int) -> Double {
        let x = [Float](repeating: 0.5, count: m * k), w = [Float](repeating: 0.25, count: n * k)
        var y = [Float](repeating: 0, count: m * n)
        var best = Double.infinity
        for _ in 0..<5 {
            let t = DispatchTime.now().uptimeNanoseconds
            y.withUnsafeMutableBufferPointer { BLAS.linear(x, w, $0.baseAddress!, m: m, n: n, k: k) }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
        }
        return 2 * Double(m * n * k) / best / 1e9
    }
}
