import ArgumentParser
import Foundation
import Models
import Optimizers
import Tasks
import Tensors
import Training

/// `zofinetune diagnose`: what the zeroth-order estimate looks like on this model and batch,
/// measured against the exact backward pass over the same arena (README, "diagnose").
struct DiagnoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Look inside the zeroth-order estimate on a batch: finite-difference error, gradient and kernel fidelity against q, curvature and both stability limits.",
        discussion: """
            Sections (--what, comma-separated; default all):

            fd: zᵀ∇L by backprop against the two-point estimate for ε = 1e-1 … 1e-6; which ε fp32 wants.

            curvature: tr(H) by Hutchinson from forwards ((L+ + L− − 2·L0)/ε²) and from backprop \
            Hessian-vector products; λ_max by power iteration; the first-order limit 2/λ_max beside the \
            two-point ZO limit 2q/tr(H) and the lr `--lr auto` would pick.

            gradient: cosine and relative error of the q-perturbation estimate against ∇L for \
            q = 1 … --max-q, with the Gaussian / Rademacher theory.

            kernel: K = J·Jᵀ of m examples' losses by backprop against K_q from finite-difference forwards.

            The batch is the first --batch-size examples of the train split. With --run the weights are \
            the run's after --at steps (its seed log replayed onto the base model). --json and --svg are \
            rewritten after every section.
            """)

    enum Section: String, CaseIterable { case fd, curvature, gradient, kernel }

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var taskOptions: TaskOptions
    @OptionGroup var encoderOptions: EncoderTaskOptions

    @Option(name: .long, help: "Examples in the batch.")
    var batchSize = 16

    @Option(name: .long, help: ArgumentHelp("Sections to run.", valueName: "fd,curvature,gradient,kernel"))
    var what = "fd,curvature,gradient,kernel"

    @Option(name: .long, help: "Seeds of the finite-difference section.")
    var fdSeeds = 4

    @Option(name: .long, help: "ε of the curvature and kernel sections (MeZO's default).")
    var eps: Float = 1e-3

    @Option(name: .long, help: "Hutchinson probes of the curvature section.")
    var probes = 8

    @Option(name: .long, help: "Power iterations for λ_max.")
    var powerIterations = 8

    @Option(name: .long, help: "Largest q of the gradient section.")
    var maxQ = 256

    @Option(name: .long, help: ArgumentHelp("Distributions of z in the gradient section.", valueName: "gaussian,rademacher"))
    var perturbations = "gaussian,rademacher"

    @Option(name: .long, help: "Examples m of the kernel section.")
    var kernelExamples = 8

    @Option(name: .long, help: "Largest q of the kernel section.")
    var kernelMaxQ = 64

    @Option(name: .long, help: "q of the training run the limits are for (--perturbations of train).")
    var trainPerturbations = 1

    @Option(name: .long, help: "Seed of the z draws.")
    var seed: UInt64 = 1

    @Option(name: .long, help: ArgumentHelp("Write the report as JSON to this file (- for stdout).", valueName: "file"))
    var json: String?

    @Option(name: .long, help: ArgumentHelp("Write the curves as SVG to this file.", valueName: "file"))
    var svg: String?

    var sections: [Section] { what.split(separator: ",").compactMap { Section(rawValue: $0.trimmingCharacters(in: .whitespaces)) } }
    var distributions: [Perturbation] { perturbations.split(separator: ",").compactMap { Perturbation(rawValue: String($0)) } }

    func validate() throws {
        for name in what.split(separator: ",") where Section(rawValue: name.trimmingCharacters(in: .whitespaces)) == nil {
            throw ValidationError("--what: unknown section \"\(name)\" (fd, curvature, gradient, kernel)")
        }
        for name in perturbations.split(separator: ",") where Perturbation(rawValue: String(name)) == nil {
            throw ValidationError("--perturbations: unknown distribution \"\(name)\" (gaussian, rademacher)")
        }
        try SettingRules.batchSize.validate(batchSize)
        for (flag, value) in [("--fd-seeds", fdSeeds), ("--probes", probes), ("--max-q", maxQ), ("--kernel-max-q", kernelMaxQ),
                              ("--train-perturbations", trainPerturbations), ("--power-iterations", powerIterations),
                              ("--kernel-examples", kernelExamples)] {
            try CountRule.flag(flag, 1...100_000).validate(value)
        }
        if sections.contains(.kernel), kernelExamples < 1 || kernelExamples > batchSize { throw ValidationError("--kernel-examples must be between 1 and --batch-size") }
        try RealRule(flag: "--eps", key: "eps", above: 0, atMost: 1).validate(eps)
    }

    func run() throws {
        var prompt = try taskOptions.prompt()
        let train = try taskOptions.examples(.train, prompt: prompt)
        prompt.chooseDemonstrations(from: train)
        let batch = Array(train.filter { $0.label >= 0 }.prefix(batchSize))
        guard batch.count == batchSize else {
            throw InputError("the train split has \(batch.count) labelled examples; --batch-size is \(batchSize)")
        }
        let (task, steps) = try loadTask(prompt: prompt)
        let started = Date()
        let probe = try DiagnosticProbe(task: task, inputs: try task.inputs(batch), labels: batch.map(\.label),
                                        perturbation: distributions.first ?? .gaussian, threads: Threads.count)
        let gradientNorm = probe.dot(probe.gradient, probe.gradient).squareRoot()
        log(String(format: "n = %d perturbed elements, L = %.5f (backprop %.5f), ‖∇L‖ = %.3e; %.1f s",
                   probe.regionCount, probe.loss0, probe.backpropLoss, gradientNorm, Date().timeIntervalSince(started)))
        var report = DiagnosisReport(model: modelOptions.model, task: taskOptions.taskName, batchSize: batchSize, runSteps: steps,
                                     dimension: probe.regionCount, loss: Double(probe.loss0), gradientNorm: gradientNorm)
        /// Written after every section, so a long report interrupted keeps what it measured.
        func save() throws {
            if let json, json != "-" { try report.json().write(to: URL(fileURLWithPath: json)) }
            if let svg { try Data(report.chart.svg.utf8).write(to: URL(fileURLWithPath: svg)) }
        }
        func seeds(_ section: Int, _ count: Int) -> [UInt64] {
            (0..<count).map { SeedSchedule.seed(run: seed, step: section, perturbation: $0) }
        }
        let chosen = sections
        if chosen.contains(.fd) {
            report.finiteDifference = FiniteDifferenceDiagnosis.run(probe, seeds: seeds(0, fdSeeds))
            log(String(format: "fd: %.1f s", report.finiteDifference!.seconds))
            try save()
        }
        if chosen.contains(.curvature) {
            let c = CurvatureDiagnosis.run(probe, seeds: seeds(1, probes), eps: eps, powerIterations: powerIterations,
                                           perturbations: trainPerturbations, fraction: TrainingConfig.AutoLR().fraction)
            report.curvature = c
            log(String(format: "curvature: %.1f s", c.secondsForward + c.secondsBackprop + c.secondsPowerIteration))
            try save()
        }
        if chosen.contains(.gradient) {
            for (i, p) in distributions.enumerated() {
                probe.perturbation = p
                report.gradient.append(GradientEstimateDiagnosis.run(probe, seeds: seeds(2 + i, maxQ)))
                log(String(format: "gradient (%@): %.1f s", p.rawValue, report.gradient.last!.seconds))
                try save()
            }
            probe.perturbation = distributions.first ?? .gaussian
        }
        if chosen.contains(.kernel) {
            let k = KernelDiagnosis.run(probe, examples: kernelExamples, seeds: seeds(9, kernelMaxQ), eps: eps)
            report.kernel = k
            log(String(format: "kernel: %.1f s", k.secondsBackprop + k.secondsForward))
            try save()
        }
        log(String(format: "diagnose: %.1f s in all", Date().timeIntervalSince(started)))
        if json != "-" { print(report.table) }
        if json == "-" { FileHandle.standardOutput.write(try report.json(pretty: false) + Data("\n".utf8)) }
        try save()
    }

    /// The model posed the task (as `train` poses it): a decoder with the task's prompt, or an encoder
    /// with label descriptions. Returns the task and the run's steps in its weights.
    func loadTask(prompt: TaskPrompt) throws -> (TrainingTask, Int) {
        let run = runOptions.run == nil ? nil : runOptions
        try TrainingTasks.check(prompt, on: try modelOptions.architecture())
        let (loaded, steps) = try modelOptions.loadModel(run: run)
        var posing = TrainingTasks.Posing(modelDirectory: modelOptions.model) {
            try encoderOptions.descriptions(task: taskOptions.taskName)
        }
        posing.temperature = encoderOptions.temperature
        let task = try TrainingTasks.make(loaded, prompt: prompt, posing: posing)
        // The backward pass of a decoder's classify task reads one output row per label.
        if task is AnswerGenerating || (task as? ClassifyTask)?.needsContinuationScoring == true {
            throw InputError("\(prompt.origin): diagnose needs single-token label words (its backward pass reads one output row per label)")
        }
        return (task, steps)
    }
}
