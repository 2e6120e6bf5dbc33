import Dispatch
import Foundation
import Models
import Optimizers
import Profiling
import Tasks
import Tensors
import Tokenizers
import Training

extension BenchCommand {
    /// Times MeZO steps on the first `batchSize` training examples, as `train` runs them (the
    /// same task, z distribution and embedding rows), and breaks a step into its two forward
    /// passes and its three noise passes. The noise passes are set against two measured bounds:
    /// the generator alone (z into a cache-resident buffer, per core) and the machine's copy
    /// bandwidth (every pass reads and writes each element it perturbs: 8 bytes).
    func mezoStepBreakdown(modelDirectory: String) throws -> [String: Any] {
        // The batch first: parsing train.tsv leaves freed heap behind, which the weights (mapped
        // apart from the heap) would otherwise sit on top of in the peak.
        let examples = try TaskData.load(directory: taskOptions.dataDirectory, split: .train).prefix(batchSize)
        let decoder = try ModelLoader.loadDecoder(directory: modelDirectory)
        let tokenizer = try TokenizerLoader.load(modelDirectory: modelDirectory)
        if precision == .bf16 { try decoder.useBF16Products(weightsChange: true) }
        let task = try ClassifyTask(model: decoder, tokenizer: tokenizer, prompt: .builtin("sst2"))
        let inputs = try task.inputs(Array(examples))
        let labels = examples.map(\.label)
        let tokens = inputs.reduce(0) { $0 + $1.count }
        try task.prepare(maxTokens: tokens)
        let mezo = MeZO(arena: decoder.arena, eps: 1e-3, perturbation: perturbation, threads: Threads.count)
        let rows = embeddingPerturbation == .batch ? task.embeddingRows(inputs) : nil
        let perturbed = mezo.ranges(rows).reduce(0) { $0 + $1.count }

        var forward = 0.0, total = 0.0
        for step in 0...mezoSteps {
            var inLoss = 0.0
            let start = DispatchTime.now().uptimeNanoseconds
            _ = mezo.step(step, seeds: [UInt64(step)], embeddingRows: rows, lr: 1e-6) {
                let t = DispatchTime.now().uptimeNanoseconds
                defer { inLoss += Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9 }
                return task.loss(inputs, labels: labels)
            }
            if step > 0 {   // step 0 warms caches up
                total += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                forward += inLoss
            }
        }
        let peak = ProcessMemory.peakResidentBytes ?? 0   // before the bandwidth probe's buffers
        let agreement = bf16AgreementSeeds > 0
            ? try bf16Agreement(mezo: mezo, decoder: decoder, rows: rows) { task.loss(inputs, labels: labels) } : nil
        let n = Double(mezoSteps)
        let passes = (total - forward) / n
        let bytesPerStep = 3 * 8 * Double(perturbed)
        let perCore = generatorRate(perturbation)
        let copy = copyBandwidth()
        let generationBound = 3 * Double(perturbed) / (perCore * Double(Threads.count))
        let memoryBound = bytesPerStep / copy
        log(String(format: "MeZO step (%@ z, %@ embedding rows, %@ products), batch %d (%d tokens): %.3f s = forward %.3f s (2 passes) + noise passes %.3f s (3 over %d of %d elements); peak RSS %.2f GB",
                   perturbation.rawValue, embeddingPerturbation.rawValue, precision.rawValue, batchSize, tokens,
                   total / n, forward / n, passes, perturbed, decoder.arena.count, Double(peak) / 1e9))
        log(String(format: "  noise passes move %.2f GB a step: %.1f GB/s, %.0f%% of the %.1f GB/s copy bandwidth; the generator alone makes %.2f G values/s per core (%@), so generation needs >= %.3f s and memory >= %.3f s of the %.3f s",
                   bytesPerStep / 1e9, bytesPerStep / passes / 1e9, 100 * bytesPerStep / passes / copy, copy / 1e9,
                   perCore / 1e9, perturbation.rawValue, generationBound, memoryBound, passes))
        var report: [String: Any] = ["seconds_per_step": total / n, "forward_seconds": forward / n, "perturb_update_seconds": passes,
                "perturbation": perturbation.rawValue, "embedding_perturbation": embeddingPerturbation.rawValue,
                "precision": precision.rawValue,
                "perturbed_elements": perturbed, "arena_elements": decoder.arena.count,
                "noise_bytes_per_step": bytesPerStep, "noise_gb_per_second": bytesPerStep / passes / 1e9,
                "copy_gb_per_second": copy / 1e9, "generator_values_per_second_per_core": perCore,
                "generation_bound_seconds": generationBound, "memory_bound_seconds": memoryBound,
                "steps": mezoSteps, "batch_size": batchSize, "tokens": tokens,
                "peak_rss_bytes": peak]
        report["bf16_agreement"] = agreement
        if driftSteps > 0 { report["restore_drift"] = restoreDrift(mezo: mezo, rows: rows, perturbed: perturbed) }
        return report
    }

    /// How far `driftSteps` steps at lr 0 (θ + εz − 2εz + εz each, no update) leave the weights
    /// from their start: the rounding of the in-place perturb/restore passes, nothing else.
    func restoreDrift(mezo: MeZO, rows: [Int32]?, perturbed: Int) -> [String: Any] {
        let arena = mezo.arena
        let start = UnsafeMutablePointer<Float>.allocate(capacity: arena.count)   // (arena.count) θ before
        defer { start.deallocate() }
        start.update(from: arena.storage, count: arena.count)
        for step in 0..<driftSteps {
            _ = mezo.step(step, seeds: [UInt64(5000 + step)], embeddingRows: rows, lr: 0) { 1 }
        }
        var worst: Float = 0, worstAt: Float = 0, worstRelative: Float = 0, squares = 0.0, moved = 0
        // The rounding bound of MeZOTests.testRestoreDriftWithZeroLearningRate: each step is three
        // fused passes, each off by at most half an ulp of |θ| + 2ε|z|, so n steps stay within
        // 3n·ulp(|θ| + 2ε·max|z|)/2 (max|z| = 1 for Rademacher; 6.7 for Gaussian, the largest
        // Box–Muller value from 32-bit uniforms, √(−2 ln 2⁻³²) = 6.66).
        let zMax: Float = perturbation == .rademacher ? 1 : 6.7
        var worstOverBound: Float = 0
        for i in 0..<arena.count {
            let d = abs(arena.storage[i] - start[i])
            worstOverBound = max(worstOverBound, d / (3 * Float(driftSteps) * (abs(start[i]) + 2 * mezo.eps * zMax).ulp / 2))
            if d > worst { (worst, worstAt) = (d, start[i]) }
            if start[i] != 0 { worstRelative = max(worstRelative, d / abs(start[i])) }
            squares += Double(d) * Double(d)
            if d > 0 { moved += 1 }
        }
        let rms = (squares / Double(perturbed)).squareRoot()
        log(String(format: "  restore drift after %d steps at lr 0: max |dθ| %.3g (at θ = %.4g), max |dθ|/|θ| %.3g, RMS %.3g over the perturbed elements, %d of %d elements off their bits; largest |dθ|/bound %.3g",
                   driftSteps, worst, worstAt, worstRelative, rms, moved, perturbed, worstOverBound))
        return ["steps": driftSteps, "max_abs": worst, "max_abs_at": worstAt, "max_relative": worstRelative, "rms": rms,
                "max_over_rounding_bound": worstOverBound,
                "elements_moved": moved, "elements_perturbed": perturbed]
    }

    /// Whether MeZO's estimate survives bf16 products: for `bf16AgreementSeeds` seeds, the
    /// projected gradient g = (L+ − L−)/2ε from fp32 products and from bf16 copies of the
    /// perturbed weights (made anew at each point, as training would have to), on the same batch.
    /// Reports their correlation, the sign agreement and the relative RMS difference.
    func bf16Agreement(mezo: MeZO, decoder: DecoderModel, rows: [Int32]?, loss: () -> Float) throws -> [String: Any] {
        var fp32: [Double] = [], bf16: [Double] = []
        for seed in 0..<bf16AgreementSeeds {
            var low: [Float] = []
            var failure: Error?
            let r = mezo.step(seed, seeds: [UInt64(1000 + seed)], embeddingRows: rows, lr: 0) { () -> Float in
                decoder.useFP32Products()
                let full = loss()
                do { try decoder.useBF16Products(weightsChange: true) } catch { failure = error }
                low.append(loss())
                return full
            }
            if let failure { throw failure }
            fp32.append(Double(r.projectedGradients[0]))
            bf16.append((Double(low[0]) - Double(low[1])) / (2 * Double(mezo.eps)))
        }
        decoder.useFP32Products()
        let n = Double(fp32.count)
        let m32 = fp32.reduce(0, +) / n, m16 = bf16.reduce(0, +) / n
        var cov = 0.0, v32 = 0.0, v16 = 0.0, diff = 0.0
        for (a, b) in zip(fp32, bf16) {
            cov += (a - m32) * (b - m16); v32 += (a - m32) * (a - m32); v16 += (b - m16) * (b - m16)
            diff += (a - b) * (a - b)
        }
        let correlation = cov / (v32 * v16).squareRoot()
        let signs = Double(zip(fp32, bf16).filter { ($0 > 0) == ($1 > 0) }.count) / n
        let relative = (diff / fp32.reduce(0) { $0 + $1 * $1 }).squareRoot()
        log(String(format: "  bf16 vs fp32 products over %d seeds: g correlation %.4f, same sign %.1f%%, relative RMS difference %.3f",
                   fp32.count, correlation, 100 * signs, relative))
        return ["seeds": fp32.count, "correlation": correlation, "same_sign": signs, "relative_rms_difference": relative,
 "g_fp32": fp32, "g_bf16": bf16]
    }

    /// Values of z one core generates per second into a 64K-element buffer that stays in cache:
    /// the generator's own speed, without memory traffic. Best of 5 rounds of 64 fills.
    func generatorRate(_ kind: Perturbation) -> Double {
        let count = GaussianNoise.chunkElements
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)   // (64K) z
        defer { buffer.deallocate() }
        let source = kind.source(seed: 1)
        var best = Double.infinity
        for round in 0..<5 {
            let t = DispatchTime.now().uptimeNanoseconds
            for k in 0..<64 { source.fill(buffer, startingAt: (round * 64 + k) * count) }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
        }
        return Double(64 * count) / best
    }

    /// Bytes read plus written per second by a parallel memcpy of 256 MB on every thread (best of 5).
    func copyBandwidth() -> Double {
        let bytes = 256 << 20
        let source = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)   // (256 MB)
        let target = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)   // (256 MB)
        defer { source.deallocate(); target.deallocate() }
        memset(source, 1, bytes)
        memset(target, 0, bytes)
        let workers = Threads.count, share = bytes / workers
        var best = Double.infinity
        for _ in 0..<5 {
            let t = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                memcpy(target + w * share, source + w * share, w == workers - 1 ? bytes - w * share : share)
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
        }
        return 2 * Double(bytes) / best
    }
}
