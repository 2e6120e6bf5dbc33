import Foundation
import Models
import Optimizers
import Tasks
import Tensors
import TestSupport
import Weights
import XCTest
@testable import Training

/// `diagnose` on the tiny-gemma3 fixture against float64 PyTorch autograd (tools/reference/reference_diagnose.py:
/// the exact gradient, tr(H) and ‖H‖_F² from one Hessian-vector product per parameter, H's extreme
/// eigenvalues, the per-example-loss kernel). Statistical estimates are checked within a stated
/// number of standard deviations of their exact value.
final class DiagnoseTests: XCTestCase {
    override func setUpWithError() throws { try BLAS.load() }

    /// The candidate loss of candidate_grads.safetensors as a training task (what `ClassifyTask` is
    /// for a real model with a tokenizer and single-token label words).
    final class FixtureTask: TrainingTask {
        let model: DecoderModel
        let candidates: [Int32]
        var objective: CandidateObjective?
        init(model: DecoderModel, candidates: [Int32]) { (self.model, self.candidates) = (model, candidates) }
        var arena: ParameterArena { model.arena }
        func inputs(_ examples: [LabeledExample]) throws -> [[Int32]] { throw RunError("not used") }
        func prepare(maxTokens: Int) throws { objective = CandidateObjective(model: model, candidates: candidates, maxTokens: maxTokens) }
        func loss(_ inputs: [[Int32]], labels: [Int]) -> Float { objective!.loss(PackedBatch(sequences: inputs), labels: labels) }
        func lossTerms(_ inputs: [[Int32]], labels: [Int]) -> [Double] { objective!.exampleLosses(PackedBatch(sequences: inputs), labels: labels) }
        func lossDivisor(_ inputs: [[Int32]]) -> Double { Double(inputs.count) }
        func embeddingRows(_ inputs: [[Int32]]) -> [Int32]? { EmbeddingRows.read(by: inputs, head: .rows(candidates)) }
        func makeBackprop(maxTokens: Int) -> ([[Int32]], [Int], ParameterArena) -> Float {
            let trainer = DecoderTrainer(model: model, maxTokens: maxTokens)
            let candidates = candidates
            return { inputs, labels, g in
                trainer.lossAndGradients(batch: PackedBatch(sequences: inputs), target: .candidates(ids: candidates, labels: labels), gradients: g)
            }
        }
        func evaluate(_ examples: [LabeledExample]) throws -> (accuracy: Double, seconds: Double) { throw RunError("not used") }
    }

    struct Reference: Decodable {
        var loss: Double
        var kernel: [[Double]]
        var parameters: Int
        /// The block of H over these tensors is built exactly (tools/reference/reference_diagnose.py, SUBSET).
        var subset: [String]
        var subset_size: Int
        var subset_trace_hessian: Double
        var subset_frobenius2_hessian: Double
        var subset_lambda_largest_magnitude: Double
        var subset_kernel: [[Double]]
    }

    /// - Parameter subset: perturb only the reference's SUBSET tensors (whose Hessian block is exact).
    func makeProbe(_ perturbation: Perturbation = .gaussian, subset: Bool = false) throws -> (DiagnosticProbe, Reference, [Double]) {
        let fixture = try TinyFixture("tiny-gemma3")
        let dir = Repo.fixture("tiny-gemma3")
        let grads = try SafeTensorsFile(path: dir + "/candidate_grads.safetensors")
        let candidates = try grads.floats("candidate_ids").map { Int32($0) }
        let labels = try grads.floats("labels").map { Int($0) }
        let b = fixture.batch
        let inputs = zip(b.starts, b.lengths).map { Array(b.tokens[$0..<($0 + $1)]) }
        let task = FixtureTask(model: fixture.model, candidates: candidates)
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/diagnose_reference.json")))
        let region = subset ? reference.subset.map { name in
            let slot = task.arena.slot(name)!
            return slot.offset..<(slot.offset + slot.count)
        }.sorted { $0.lowerBound < $1.lowerBound } : nil
        let probe = try DiagnosticProbe(task: task, inputs: inputs, labels: labels, perturbation: perturbation, threads: 2, region: region)
        if subset { XCTAssertEqual(probe.regionCount, reference.subset_size) }
        // The float64 gradient in the arena's layout (hi + lo).
        let file = try SafeTensorsFile(path: dir + "/diagnose_gradient.safetensors")
        var exact = [Double](repeating: 0, count: task.arena.count)
        for slot in task.arena.slots {
            let hi = try file.floats(slot.name + ".hi"), lo = try file.floats(slot.name + ".lo")
            for i in 0..<slot.count { exact[slot.offset + i] = Double(hi[i]) + Double(lo[i]) }
        }
        return (probe, reference, exact)
    }

    /// zᵀg in Double with z of `seed` over the probe's region (g in the arena's layout).
    func exactDirectional(_ probe: DiagnosticProbe, seed: UInt64, _ g: [Double]) -> Double {
        let noise = probe.perturbation.source(seed: seed)
        var sum = 0.0
        for range in probe.region { for i in range { sum += Double(noise.value(at: i)) * g[i] } }
        return sum
    }

    func testDirectionalDerivativesMatchFloat64Autograd() throws {
        let (probe, reference, exact) = try makeProbe()
        XCTAssertEqual(Double(probe.loss0), reference.loss, accuracy: 1e-5)
        // Rows the batch does not read carry no gradient: the region holds all of ∇L.
        let outside = probe.task.arena.count - probe.regionCount
        print("tiny-gemma3: n = \(probe.regionCount) of \(reference.parameters) (\(outside) unread embedding elements)")
        let seeds = (0..<8).map { SeedSchedule.seed(run: 7, step: 0, perturbation: $0) }
        let fd = FiniteDifferenceDiagnosis.run(probe, seeds: seeds)
        for (k, seed) in seeds.enumerated() {
            let want = exactDirectional(probe, seed: seed, exact)
            let rel = abs(fd.exact[k] - want) / abs(want)
            XCTAssertLessThan(rel, 1e-4, "seed \(k): backprop zᵀ∇L \(fd.exact[k]) vs float64 \(want)")
            print(String(format: "seed %d: zᵀ∇L float64 %.9f, backprop fp32 %.9f (rel %.1e), two-point at ε=%.0e %.9f",
                         k, want, fd.exact[k], rel, fd.chosenEps, fd.estimates[fd.eps.firstIndex(of: fd.chosenEps)!][k]))
        }
        print("median relative error per ε \(fd.eps): \(fd.medianRelativeError)")
        // fp32 two-point at its best ε: truncation and rounding both below 1e-2 on this model.
        XCTAssertLessThan(fd.medianRelativeError.min()!, 1e-2)
        // Truncation dominates at ε = 0.1, rounding at 1e-6: the curve is not flat.
        XCTAssertGreaterThan(fd.medianRelativeError.last!, fd.medianRelativeError.min()! * 10)
    }

    func testCurvatureWithinStatisticalTolerance() throws {
        let (probe, reference, _) = try makeProbe(subset: true)
        let probes = 64
        let seeds = (0..<probes).map { SeedSchedule.seed(run: 7, step: 1, perturbation: $0) }
        let c = CurvatureDiagnosis.run(probe, seeds: seeds, eps: 1e-2, powerIterations: 100, perturbations: 1, fraction: 0.05)
        // Gaussian z: Var(zᵀHz) = 2‖H‖_F², so the mean of K probes has standard deviation √(2‖H‖_F²/K).
        let sigma = (2 * reference.subset_frobenius2_hessian / Double(probes)).squareRoot()
        print(String(format: "tr(H): float64 %.4f; forwards %.4f ± %.4f, HVPs %.4f ± %.4f (σ of the mean %.4f)",
                     reference.subset_trace_hessian, c.traceForward, c.traceForwardStandardError, c.traceBackprop,
                     c.traceBackpropStandardError, sigma))
        XCTAssertEqual(c.traceForward, reference.subset_trace_hessian, accuracy: 4 * sigma, "Hutchinson from forwards, 4σ")
        XCTAssertEqual(c.traceBackprop, reference.subset_trace_hessian, accuracy: 4 * sigma, "Hutchinson from HVPs, 4σ")
        // Same z both ways: the two zᵀHz agree probe by probe far better than σ.
        for (a, b) in zip(c.forwardQuadratic, c.backpropQuadratic) {
            XCTAssertEqual(a, b, accuracy: 0.05 * sigma * Double(probes).squareRoot() + 1e-3 * abs(b))
        }
        print("λ iterates \(c.lambdaIterates), float64 largest |λ| \(reference.subset_lambda_largest_magnitude)")
        XCTAssertEqual(abs(c.lambdaMax), reference.subset_lambda_largest_magnitude, accuracy: 0.02 * abs(reference.subset_lambda_largest_magnitude),
                       "power iteration within 2% of the float64 extreme eigenvalue")
        XCTAssertTrue(c.lambdaConverged)
        XCTAssertEqual(c.firstOrderLimit, 2 / abs(c.lambdaMax), accuracy: 1e-12)
        XCTAssertEqual(c.zerothOrderLimit, AutoLearningRate.limit(trace: c.forwardQuadratic.map(abs).reduce(0, +) / Double(probes), perturbations: 1),
                       accuracy: 1e-12)
    }

    func testKernelMatchesAutogradAndConvergesAsTheory() throws {
        let (full, reference, _) = try makeProbe()
        let m = reference.kernel.count
        let exactFull = KernelDiagnosis.exactKernel(full, examples: m)
        var fullDiff = 0.0, fullNorm = 0.0
        for i in 0..<m { for j in 0..<m { fullDiff += pow(exactFull[i][j] - reference.kernel[i][j], 2); fullNorm += pow(reference.kernel[i][j], 2) } }
        XCTAssertLessThan((fullDiff / fullNorm).squareRoot(), 1e-4, "K = J·Jᵀ over every parameter")
        let (probe, _, _) = try makeProbe(subset: true)
        let seeds = (0..<256).map { SeedSchedule.seed(run: 7, step: 9, perturbation: $0) }
        let k = KernelDiagnosis.run(probe, examples: m, seeds: seeds, eps: 1e-2)
        var diff = 0.0, norm = 0.0
        for i in 0..<m { for j in 0..<m { diff += pow(k.kernel[i][j] - reference.subset_kernel[i][j], 2); norm += pow(reference.subset_kernel[i][j], 2) } }
        print("K_SS float64 \(reference.subset_kernel)\nK backprop \(k.kernel)\nrelative Frobenius error vs q \(zip(k.qs, k.relativeFrobenius).map { "\($0): \($1)" }), theory \(k.theory)")
        XCTAssertLessThan((diff / norm).squareRoot(), 1e-4, "exact kernel")
        // The error falls with q.
        XCTAssertLessThan(k.relativeFrobenius.last!, k.relativeFrobenius.first!)
        // E‖K_q − K‖²_F/‖K‖²_F = c/q (Gaussian z). One draw of it spreads like a squared normal (relative
        // spread √2 when K is nearly rank one, as here), so compare the mean over 32 independent sets of
        // q = 32 probes: relative spread √2/√32 ≈ 0.25; ±60% is 2.4σ.
        var squares: [Double] = []
        for r in 0..<32 {
            let block = (0..<32).map { SeedSchedule.seed(run: 100 + UInt64(r), step: 9, perturbation: $0) }
            let rk = KernelDiagnosis.run(probe, examples: m, seeds: block, eps: 1e-2)
            squares.append(rk.relativeFrobenius.last! * rk.relativeFrobenius.last!)
        }
        let measured = squares.reduce(0, +) / Double(squares.count), predicted = pow(k.theory[5], 2)   // q = 32
        print("mean ‖K_32 − K‖²_F/‖K‖²_F over 32 sets: \(measured), Gaussian theory \(predicted)")
        XCTAssertEqual(measured, predicted, accuracy: 0.6 * predicted)
    }

    func testGradientEstimateMatchesTheory() throws {
        for perturbation in Perturbation.allCases {
            let (probe, _, _) = try makeProbe(perturbation, subset: true)
            let seeds = (0..<256).map { SeedSchedule.seed(run: 7, step: 2, perturbation: $0) }
            let g = GradientEstimateDiagnosis.run(probe, seeds: seeds)
            print("\(perturbation): q \(g.qs) cos \(g.cosine) theory \(g.theoryCosine)")
            // ‖ĝ_q − g‖² = (1/q²)·‖Σ_k w_k‖², w_k = (z_k z_kᵀ − I)·g: the diagonal terms spread by √2/√q ≈ 9%,
            // the cross terms by ≈ 1/√n ≈ 9% (n = 128): 40% is > 3σ.
            let r = g.relativeError.last!, t = g.theoryRelativeError.last!
            XCTAssertEqual(r * r, t * t, accuracy: 0.4 * t * t, "\(perturbation): ‖ĝ − g‖²/‖g‖² at q = 256")
            XCTAssertEqual(g.cosine.last!, g.theoryCosine.last!, accuracy: 0.4 * g.theoryCosine.last!)
        }
    }
}
