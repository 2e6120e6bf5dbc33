import Foundation
import Profiling

/// Everything `diagnose` measured, as a table for people, JSON for scripts and an SVG of the curves.
public struct DiagnosisReport: Codable, Sendable {
    public var model: String
    public var task: String
    public var batchSize: Int
    /// Steps of a run replayed into the weights first (0: the base model).
    public var runSteps: Int
    /// n: elements a step perturbs (the arena minus the embedding rows the batch does not read).
    public var dimension: Int
    public var loss: Double
    public var gradientNorm: Double
    public var finiteDifference: FiniteDifferenceResult?
    public var curvature: CurvatureResult?
    public var gradient: [GradientEstimateResult] = []
    public var kernel: KernelResult?

    public init(model: String, task: String, batchSize: Int, runSteps: Int, dimension: Int, loss: Double, gradientNorm: Double) {
        (self.model, self.task, self.batchSize, self.runSteps) = (model, task, batchSize, runSteps)
        (self.dimension, self.loss, self.gradientNorm) = (dimension, loss, gradientNorm)
    }

    /// Pretty-printed for a file; one line (`pretty: false`) for stdout, the `--json` contract.
    public func json(pretty: Bool = true) throws -> Data {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return try encoder.encode(self)
        }
    }

    public var table: String {
        func e(_ x: Double) -> String { String(format: "%.3e", x) }
        var s = "\(model) on \(task), batch \(batchSize)\(runSteps > 0 ? ", after \(runSteps) steps of the run" : ""): "
            + "n = \(dimension) perturbed elements, L = \(String(format: "%.5f", loss)), ‖∇L‖ = \(e(gradientNorm))\n"
        if let fd = finiteDifference {
            s += "\nfinite differences (\(fd.seeds.count) seeds; zᵀ∇L by backprop vs (L+ − L−)/2ε in fp32), \(String(format: "%.1f", fd.seconds)) s\n"
            s += "  eps       median rel. error   max rel. error\n"
            for (i, eps) in fd.eps.enumerated() {
                s += "  \(String(format: "%-8.0e", eps))  \(e(fd.medianRelativeError[i]))           \(e(fd.relativeErrors[i].max() ?? .nan))\n"
            }
            s += "  zᵀ∇L per seed: \(fd.exact.map(e).joined(separator: ", "))\n"
            s += "  chosen eps: \(String(format: "%.0e", fd.chosenEps))\n"
        }
        if let c = curvature {
            s += "\ncurvature (\(c.seeds.count) Hutchinson probes, ε = \(String(format: "%.0e", c.eps)); \(c.lambdaIterates.count) power iterations), "
                + String(format: "%.1f + %.1f + %.1f s\n", c.secondsForward, c.secondsBackprop, c.secondsPowerIteration)
            s += "  tr(H), forwards only:     \(e(c.traceForward)) ± \(e(c.traceForwardStandardError))  (mean |zᵀHz| \(e(c.forwardQuadratic.map(abs).reduce(0, +) / Double(max(1, c.forwardQuadratic.count)))))\n"
            s += "  tr(H), backprop HVPs:     \(e(c.traceBackprop)) ± \(e(c.traceBackpropStandardError))\n"
            s += "  λ_max, power iteration:   \(e(c.lambdaMax))  (iterates \(c.lambdaIterates.map(e).joined(separator: ", ")))"
                + (c.lambdaConverged ? "\n" : " NOT CONVERGED: raise --power-iterations\n")
            s += "  ‖Hv‖/‖v‖ (→ |λ|_max):     \(c.magnitudeIterates.map(e).joined(separator: ", "))\n"
            s += "  first-order limit 2/λ_max:        \(e(c.firstOrderLimit))\n"
            s += "  two-point ZO limit 2q/tr(H), q=\(c.perturbations): \(e(c.zerothOrderLimit))\n"
            s += "  --lr auto would pick (\(String(format: "%.3g", c.autoFraction)) × limit): \(e(c.autoLR))\n"
        }
        for g in gradient {
            s += "\ngradient estimate, \(g.perturbation) z (ĝ_q from q exact directional derivatives vs ∇L), \(String(format: "%.1f", g.seconds)) s\n"
            s += "  q      cosine      theory      rel. error  theory\n"
            for (i, q) in g.qs.enumerated() {
                s += "  \(String(format: "%-5d", q))  \(e(g.cosine[i]))  \(e(g.theoryCosine[i]))  \(e(g.relativeError[i]))  \(e(g.theoryRelativeError[i]))\n"
            }
        }
        if let k = kernel {
            s += "\nkernel fidelity (m = \(k.examples) examples, per-example losses, ε = \(String(format: "%.0e", k.eps))), "
                + String(format: "%.1f s backprop + %.1f s forwards\n", k.secondsBackprop, k.secondsForward)
            s += "  q      ‖K_q − K‖_F/‖K‖_F   Gaussian theory\n"
            for (i, q) in k.qs.enumerated() { s += "  \(String(format: "%-5d", q))  \(e(k.relativeFrobenius[i]))           \(e(k.theory[i]))\n" }
        }
        return s
    }

    public var chart: LogAxisPanels {
        var panels: [LogAxisPanels.Panel] = []
        let colours = LogAxisPanels.palette
        if let fd = finiteDifference {
            var series = [LogAxisPanels.Series(name: "median", colour: colours[0], points: zip(fd.eps, fd.medianRelativeError).map { ($0, $1) })]
            series.append(.init(name: "max", colour: colours[1], points: fd.eps.indices.map { (fd.eps[$0], fd.relativeErrors[$0].max() ?? .nan) }, dashed: true))
            panels.append(.init(title: "Two-point vs zᵀ∇L (fp32)", xLabel: "ε", yLabel: "relative error", series: series))
        }
        if !gradient.isEmpty {
            var series: [LogAxisPanels.Series] = []
            for (i, g) in gradient.enumerated() {
                series.append(.init(name: "cos, \(g.perturbation)", colour: colours[2 * i % colours.count], points: zip(g.qs.map(Double.init), g.cosine).map { ($0, $1) }))
                series.append(.init(name: "theory", colour: colours[2 * i % colours.count], points: zip(g.qs.map(Double.init), g.theoryCosine).map { ($0, $1) }, dashed: true))
            }
            panels.append(.init(title: "cos(ĝ_q, ∇L)", xLabel: "perturbations q", yLabel: "cosine", series: series))
        }
        if let k = kernel {
            panels.append(.init(title: "Kernel fidelity, m = \(k.examples)", xLabel: "perturbations q", yLabel: "‖K_q − K‖_F / ‖K‖_F", series: [
                .init(name: "measured", colour: colours[4], points: zip(k.qs.map(Double.init), k.relativeFrobenius).map { ($0, $1) }),
                .init(name: "Gaussian theory", colour: colours[4], points: zip(k.qs.map(Double.init), k.theory).map { ($0, $1) }, dashed: true),
            ]))
        }
        return LogAxisPanels(title: "zofinetune diagnose: \(model), \(task)",
                         subtitle: "batch \(batchSize), n = \(dimension) perturbed elements\(runSteps > 0 ? ", after \(runSteps) steps" : "")",
                         panels: panels)
    }
}
