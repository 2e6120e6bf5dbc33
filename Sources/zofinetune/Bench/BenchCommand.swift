import ArgumentParser
import Foundation
import Models
import Optimizers
import Profiling
import Tasks
import Tensors
import Tokenizers
import Training

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure sgemm throughput, the forward pass, and MeZO / backprop steps on this machine.",
        discussion: """
            Prints GFLOP/s for square products and for the shapes of a Gemma-3-270M block. With \
            --model, also times the forward pass over SST-2 dev prompts (as `eval` runs it) and \
            breaks the time down by kind of work; --mezo-steps and --fo-steps time training steps on \
            the first --batch-size training prompts (tools/bench/bench_mezo.py and tools/bench/bench_fo.py put \
            them side by side with PyTorch). With an encoder --model (bert, roberta), times \
            sentence embeddings of SST-2 dev at --encoder-batch-size sentences a pass, tokenisation \
            included, as sentence-transformers' encode (tools/bench/bench_encoder.py runs both).
            """)

    @Option(name: .long, help: ArgumentHelp("Also time the forward pass of this model folder.", valueName: "dir"))
    var model: String?

    @OptionGroup var taskOptions: TaskOptions

    @Option(name: .long, help: "Prompts for the forward-pass timing (0: skip it).")
    var limit = 872

    @Option(name: .long, help: "Products of the forward-pass timing and the MeZO steps: fp32 or bf16 (as eval and train --precision).")
    var precision: Precision = .fp32

    @Option(name: .long, help: "With --model: also time this many MeZO steps (after one warm-up).")
    var mezoSteps = 0

    @Option(name: .long, help: "z of the timed MeZO steps: rademacher (train's default) or gaussian.")
    var perturbation: Perturbation = TrainingConfig().perturbation

    @Option(name: .long, help: "Embedding rows the timed MeZO steps perturb: batch (train's default) or all.")
    var embeddingPerturbation: TrainingConfig.EmbeddingPerturbation = TrainingConfig().embeddingPerturbation

    @Option(name: .long, help: ArgumentHelp("With --mezo-steps: also compare MeZO's projected gradient from bf16 and fp32 products over this many seeds.", valueName: "N"))
    var bf16AgreementSeeds = 0

    @Option(name: .long, help: ArgumentHelp("With --mezo-steps: also measure the restore drift of this many MeZO steps at lr 0 (no forwards).", valueName: "N"))
    var driftSteps = 0

    @Option(name: .long, help: "With --model: also time this many backprop steps (after one warm-up).")
    var foSteps = 0

    @Option(name: .long, help: "Optimizer of the backprop steps: sgd or adamw.")
    var optimizer: TrainingConfig.Optimizer = .adamw

    @Option(name: .long, help: "Batch size of the MeZO and backprop steps (the first examples of train.tsv).")
    var batchSize = 16

    @Option(name: .long, help: "Threads (default: every core).")
    var threads: Int?

    @Option(name: .long, help: "Token rows in the model-shaped products.")
    var tokens = 2048

    @Flag(name: .long, help: "Print one JSON object on stdout.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("With an encoder --model: sentences per forward pass (sentence-transformers' default 32).", valueName: "B"))
    var encoderBatchSize = 32

    @Option(name: .long, help: "With an encoder --model: timed passes over the sentences (the best is reported).")
    var repeats = 3

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
        var report: [String: Any] = ["openblas_core": BLAS.coreName, "threads": Threads.count, "sgemm": results]
        // An encoder is timed as sentence-transformers embeds; a decoder as eval and train run it.
        if let model, try ModelArchitecture.of(directory: model) == .encoder {
            report["encoder"] = try encoderThroughput(modelDirectory: model, peak: results[0]["gflops"] as! Double)
        } else if let model {
            // --limit 0 skips it: a MeZO bench then reports the step's own peak RSS.
            if limit > 0 { report["forward"] = try forwardBreakdown(modelDirectory: model, peak: results[0]["gflops"] as! Double) }
            if mezoSteps > 0 { report["mezo"] = try mezoStepBreakdown(modelDirectory: model) }
            if foSteps > 0 { report["backprop"] = try backpropStepBreakdown(modelDirectory: model) }
        }
        if json { try printJSON(report) }
    }

    /// Times the forward pass of `eval` over the first `limit` dev prompts, by kind of work.
    func forwardBreakdown(modelDirectory: String, peak: Double) throws -> [String: Any] {
        let decoder = try ModelLoader.loadDecoder(directory: modelDirectory)
        if precision == .bf16 { try decoder.useBF16Products() }
        let tokenizer = try TokenizerLoader.load(modelDirectory: modelDirectory)
        try checkVocabularies(tokenizer: tokenizer, model: decoder, directory: modelDirectory)
        let examples = try TaskData.load(directory: taskOptions.dataDirectory, split: .dev).prefix(limit)
        let prompt = try TaskPrompt.builtin("sst2")
        let prompts = try examples.map { try prompt.promptIDs(for: $0, tokenizer: tokenizer) }
        let scorer = CandidateScorer(model: decoder, maxTokens: 2048)
        let batches = try scorer.packChunks(prompts).map { PackedBatch(sequences: Array(prompts[$0])) }

        OpTimer.reset()
        OpTimer.enabled = true
        let start = DispatchTime.now().uptimeNanoseconds
        var flops = 0.0
        for b in batches {
            _ = decoder.forward(b, workspace: scorer.workspace, outputs: .lastTokenOfEachSequence)
            flops += decoder.matmulFLOPs(b, outputs: .lastTokenOfEachSequence)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        OpTimer.enabled = false
        let parts = OpTimer.seconds
        let tokenCount = prompts.reduce(0) { $0 + $1.count }
        log(String(format: "forward over %d prompts (%d tokens) in %.2f s: %.0f tokens/s, %.1f GFLOP/s in matmuls overall (%.0f%% of the %.0f GFLOP/s sgemm peak)",
                   prompts.count, tokenCount, seconds, Double(tokenCount) / seconds, flops / seconds / 1e9,
                   100 * flops / seconds / 1e9 / peak, peak))
        for kind in OpTimer.Kind.allCases where kind != .other {
            log(String(format: "  %-10@ %6.2f s (%4.1f%%)", kind.rawValue, parts[kind]!, 100 * parts[kind]! / seconds))
        }
        let accounted = parts.values.reduce(0, +)
        log(String(format: "  %-10@ %6.2f s (%4.1f%%)", "rest", seconds - accounted, 100 * (seconds - accounted) / seconds))
        return ["prompts": prompts.count, "tokens": tokenCount, "seconds": seconds,
                "tokens_per_second": Double(tokenCount) / seconds, "matmul_gflops": flops / seconds / 1e9,
                "breakdown_seconds": Dictionary(uniqueKeysWithValues: parts.map { ($0.rawValue, $1) })]
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

    func validate() throws {
        if !optimizer.usesBackprop {
            throw ValidationError("--optimizer takes \(OptimizerRegistry.firstOrder.map(\.name).joined(separator: " or ")) (MeZO is timed by --mezo-steps)")
        }
        for (flag, value) in [("--limit", limit), ("--mezo-steps", mezoSteps), ("--bf16-agreement-seeds", bf16AgreementSeeds),
                              ("--drift-steps", driftSteps), ("--fo-steps", foSteps)] {
            try CountRule.flag(flag, 0...1_000_000).validate(value)
        }
        try SettingRules.batchSize.validate(batchSize)
        try SettingRules.threads.validate(threads)
        // --tokens rows of products up to 1024 wide: 65,536 rows is 256 MB a matrix.
        try CountRule.flag("--tokens", 1...65_536).validate(tokens)
        try CountRule.flag("--encoder-batch-size", 1...100_000).validate(encoderBatchSize)
        try CountRule.flag("--repeats", 1...1_000).validate(repeats)
    }

    /// The first `batchSize` training examples as the SST-2 prompts, with labels and candidate ids.
    func trainingBatch(tokenizer: Tokenizer) throws -> (PackedBatch, [Int], [Int32]) {
        let examples = try TaskData.load(directory: taskOptions.dataDirectory, split: .train).prefix(batchSize)
        let prompt = try TaskPrompt.builtin("sst2")
        let batch = PackedBatch(sequences: try examples.map { try prompt.promptIDs(for: $0, tokenizer: tokenizer) })
        guard let candidates = try ClassifyTask.fixedCandidates(prompt: prompt, tokenizer: tokenizer) else {
            throw InputError("\(prompt.origin): the label words are not single tokens for this vocabulary")
        }
        return (batch, examples.map(\.label), candidates)
    }

    /// Times SGD/AdamW steps on the same batch as the MeZO steps, as tools/bench/pytorch_fo_bench.py
    /// times PyTorch's: forward + backward, gradient norm, optimizer update.
    func backpropStepBreakdown(modelDirectory: String) throws -> [String: Any] {
        let decoder = try ModelLoader.loadDecoder(directory: modelDirectory)
        let (batch, labels, candidates) = try trainingBatch(tokenizer: try TokenizerLoader.load(modelDirectory: modelDirectory))
        let trainer = DecoderTrainer(model: decoder, maxTokens: batch.tokenCount)
        let gradients = decoder.arena.sameLayout(tag: .gradients)
        guard case .firstOrder(let spec) = optimizer.family else { throw ValidationError("--optimizer \(optimizer) is not a backprop optimizer") }
        let update = spec.make(TrainingConfig(), decoder.arena)   // the defaults: no weight decay, PyTorch's betas
        var backward = 0.0, norm = 0.0, total = 0.0
        func seconds(since t: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9 }
        for step in 0...foSteps {
            let start = DispatchTime.now().uptimeNanoseconds
            trainer.lossAndGradients(batch: batch, target: .candidates(ids: candidates, labels: labels), gradients: gradients)
            let afterBackward = DispatchTime.now().uptimeNanoseconds
            _ = GradientClipping.norm(gradients)
            let afterNorm = DispatchTime.now().uptimeNanoseconds
            update.step(gradients: gradients, lr: 1e-5)
            if step > 0 {   // step 0 warms caches up and touches the moments
                backward += Double(afterBackward - start) / 1e9
                norm += Double(afterNorm - afterBackward) / 1e9
                total += seconds(since: start)
            }
        }
        let n = Double(foSteps)
        log(String(format: "%@ step, batch %d (%d tokens): %.3f s = forward + backward %.3f s + gradient norm %.3f s + update %.3f s; peak RSS %.2f GB",
                   optimizer.rawValue, batchSize, batch.tokenCount, total / n, backward / n, norm / n,
                   (total - backward - norm) / n, Double(ProcessMemory.peakResidentBytes ?? 0) / 1e9))
        return ["optimizer": optimizer.rawValue, "seconds_per_step": total / n, "forward_backward_seconds": backward / n,
                "grad_norm_seconds": norm / n, "update_seconds": (total - backward - norm) / n,
                "steps": foSteps, "batch_size": batchSize, "tokens": batch.tokenCount,
                "peak_rss_bytes": ProcessMemory.peakResidentBytes ?? 0]
    }
}
