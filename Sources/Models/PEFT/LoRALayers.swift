import Foundation
import Tensors
import Weights

/// One base matrix that LoRA adapts: its module path (the Hugging Face name without ".weight",
/// which is also peft's module name), its place in the base arena and its shape.
public struct LoRAModule: @unchecked Sendable {
    public let module: String
    public let target: LoRATarget
    /// The base weight, (out, in) as Hugging Face stores Linear weights. Read only.
    let weight: UnsafePointer<Float>
    public let out: Int
    public let `in`: Int

    /// The adapter tensors' names: peft's keys without its "base_model.model." prefix.
    public var aName: String { module + ".lora_A.weight" }
    public var bName: String { module + ".lora_B.weight" }
}

/// LoRA adapters over a model's projections (Hu et al. 2021, as peft implements them):
///
///     y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ,   s = α/r,   A: (r, in),   B: (out, r)
///
/// A and B of every adapted projection live in `arena`, a small `ParameterArena` of their own, in
/// module order (layer by layer, targets in `LoRATarget` order, A before B): that arena is what a
/// LoRA run trains, perturbs, logs, snapshots and exports, while the base arena is never written.
/// The model asks `add` after each base product, keyed by the base weight's address (as
/// `LowPrecisionProducts` is), so the forwards need no LoRA branches of their own; the adapter
/// products are fp32 even when the base products run in bf16.
///
/// Dropout is 0 (peft's `lora_dropout` default and the MeZO paper's setting): MeZO's two-point
/// difference needs both forwards to compute the same function.
public final class LoRALayers: @unchecked Sendable {
    public let settings: LoRASettings
    public let modules: [LoRAModule]
    /// A and B of every module.   A: (r, in), B: (out, r)
    public let arena: ParameterArena
    let scale: Float
    /// Index into `modules` by the base weight's address.
    private let byWeight: [Int: Int]
    private let aOffsets: [Int], bOffsets: [Int]   // (modules) slot offsets of A and B
    /// x·Aᵀ and d loss / d (x·Aᵀ) of one product, grown to the largest row count seen.   (2, rows, r)
    private var scratch: TaggedBuffer?

    public init(modules: [LoRAModule], settings: LoRASettings) throws {
        try settings.validate()
        guard !modules.isEmpty else { throw ModelError("LoRA: no projection to adapt") }
        let r = settings.rank
        self.settings = settings
        self.modules = modules
        scale = settings.scale
        let arena = try ParameterArena(checking: modules.flatMap { m in
            [ParameterSpec(m.aName, [r, m.in], .matrix), ParameterSpec(m.bName, [m.out, r], .matrix)]
        })
        self.arena = arena
        byWeight = Dictionary(uniqueKeysWithValues: modules.enumerated().map { (Int(bitPattern: $1.weight), $0) })
        aOffsets = modules.map { arena.slot($0.aName)!.offset }
        bOffsets = modules.map { arena.slot($0.bName)!.offset }
    }

    /// Elements of A and B together (what a LoRA run trains).
    public var parameterCount: Int { arena.parameterCount }

    /// A as peft initialises it, B = 0: peft/tuners/lora/layer.py, `LoraLayer.reset_lora_parameters`
    /// (init_lora_weights=True): `nn.init.kaiming_uniform_(lora_A.weight, a=math.sqrt(5))` and
    /// `nn.init.zeros_(lora_B.weight)`. Kaiming-uniform with a = √5 on a (r, in) weight draws from
    /// U(−b, b) with b = gain·√(3/fan_in), gain = √(2/(1 + a²)) = √(1/3): b = 1/√in. So the adapted
    /// model starts as the base model exactly, and B's gradient is what moves first. The draws come
    /// from `seed` (the run's), one SplitMix64 stream per module, so replay rebuilds the same A.
    public func initialise(seed: UInt64) {
        arena.storage.update(repeating: 0, count: arena.count)
        for (i, m) in modules.enumerated() {
            let bound = 1 / Float(m.in).squareRoot()
            var state = seed ^ (0x4C6F_5241_0000_0000 &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)   // "LoRA", module i
            let a = arena.storage + aOffsets[i]
            for j in 0..<(settings.rank * m.in) {
                state = state &+ 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                let u = Float(z >> 40) * 0x1p-24   // [0, 1) in 24-bit steps
                a[j] = bound * (2 * u - 1)
            }
        }
    }

    /// A and B of `module` in an arena with this one's layout (the adapters, or their gradients).
    func pointers(_ i: Int, in other: ParameterArena) -> (a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>) {
        (other.storage + aOffsets[i], other.storage + bOffsets[i])
    }

    /// The adapted module whose base weight is `w`, if any.
    @inline(__always)
    func index(of w: UnsafePointer<Float>) -> Int? { byWeight[Int(bitPattern: w)] }

    private func scratchViews(rows: Int) -> (t: UnsafeMutablePointer<Float>, u: UnsafeMutablePointer<Float>) {
        let r = settings.rank
        if scratch == nil || scratch!.count < 2 * rows * r {
            scratch = TaggedBuffer(floats: 2 * max(rows, 64) * r, tag: .activations)
        }
        return (scratch!.base, scratch!.base + rows * r)
    }

    /// Bytes of the working buffer (x·Aᵀ and its gradient), for memory accounting.
    public var scratchBytes: Int { scratch?.byteCount ?? 0 }

    /// y += s·(x·Aᵀ)·Bᵀ when `w` is an adapted weight (else nothing).
    ///   x: (rows, in)   y: (rows, out)
    @inline(__always)
    func add(_ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, rows: Int) {
        guard rows > 0, let i = index(of: w) else { return }
        let m = modules[i], r = settings.rank
        let (a, b) = pointers(i, in: arena)
        let t = scratchViews(rows: rows).t                                   // (rows, r)
        BLAS.linear(x, a, t, m: rows, n: r, k: m.in)                          // t = x·Aᵀ
        BLAS.gemm(transA: false, transB: true, m: rows, n: m.out, k: r, alpha: scale,
                  t, lda: r, b, ldb: r, beta: 1, y, ldc: m.out)              // y += s·t·Bᵀ
    }

    /// Backward of the adapter term of a product whose base weight is `w` (nothing if it has none):
    ///
    ///     t = x·Aᵀ,  dB += s·dyᵀ·t,  u = s·dy·B,  dA += uᵀ·x,  dx += u·A
    ///
    ///   dy: (rows, out)   x: (rows, in)   dx: (rows, in), added to (the base weight's share
    ///   dy·W must already be in it)   gradients: an arena with `arena`'s layout, accumulated.
    func backward(weight w: UnsafePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>?, rows: Int, gradients: ParameterArena) {
        guard rows > 0, let i = index(of: w) else { return }
        let m = modules[i], r = settings.rank
        let (a, b) = pointers(i, in: arena)
        let (dA, dB) = pointers(i, in: gradients)
        let (t, u) = scratchViews(rows: rows)
        BLAS.linear(x, a, t, m: rows, n: r, k: m.in)
        BLAS.gemm(transA: true, transB: false, m: m.out, n: r, k: rows, alpha: scale,
                  dy, lda: m.out, t, ldb: r, beta: 1, dB, ldc: r)
        BLAS.gemm(transA: false, transB: false, m: rows, n: r, k: m.out, alpha: scale,
                  dy, lda: m.out, b, ldb: r, beta: 0, u, ldc: r)
        BLAS.gemm(transA: true, transB: false, m: r, n: m.in, k: rows,
                  u, lda: r, x, ldb: m.in, beta: 1, dA, ldc: m.in)
        if let dx {
            BLAS.gemm(transA: false, transB: false, m: rows, n: m.in, k: r,
                      u, lda: r, a, ldb: m.in, beta: 1, dx, ldc: m.in)
        }
    }

    /// W + s·B·A for every adapted module, written into `base` (an arena with the base model's
    /// layout, e.g. a copy for export): the merged weights peft's `merge_and_unload` computes.
    public func merge(into base: ParameterArena) throws {
        for (i, m) in modules.enumerated() {
            guard let slot = base.slot(m.module + ".weight"), slot.shape == [m.out, m.in] else {
                throw ModelError("LoRA merge: the base has no weight \(m.module).weight of shape [\(m.out), \(m.in)]")
            }
            guard !slot.isHalf else {
                throw ModelError("LoRA merge: \(slot.name) is held as bf16 (--weights bf16), where W + (α/r)·B·A would be "
                                 + "rounded; export the adapter itself (export --adapter) and merge it over f32 weights")
            }
            let (a, b) = pointers(i, in: arena)
            // W (out, in) += s · B (out, r) · A (r, in)
            BLAS.gemm(transA: false, transB: false, m: m.out, n: m.in, k: settings.rank, alpha: scale,
                      b, lda: settings.rank, a, ldb: m.in, beta: 1, base.pointer(slot), ldc: m.in)
        }
    }
}
