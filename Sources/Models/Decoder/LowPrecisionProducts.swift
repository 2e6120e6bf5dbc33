import Tensors
import Weights

/// Arithmetic of a forward pass's block matrix products.
public enum Precision: String, Codable, Sendable, CaseIterable {
    case fp32, bf16
}

/// bf16 versions of a model's block matrices, keyed by the fp32 weight's address, and the product
/// that uses them (`eval --precision bf16`, MeZO's forwards with `train --precision bf16`, encoder
/// bench): about twice the fp32 sgemm rate on CPUs with AVX512_BF16, at bf16 rounding of weights
/// and activations. Norms, attention, softmax and heads stay fp32, and the fp32 arena stays the
/// weights. Two ways to hold the bf16 matrices:
/// - `copies`: one rounded copy of each, made once (half the weights' bytes again): for weights
///   that do not change, as in evaluation.
/// - `convertedOnUse`: each matrix is rounded into one scratch right before its product. MeZO
///   changes the weights before every forward, so copies would have to be remade each time
///   anyway: this does the same conversion work and keeps memory at the inference level (one
///   scratch of the largest matrix instead of a second copy of every matrix).
struct LowPrecisionProducts {
    enum Storage {
        /// The bf16 copy of each matrix, by the fp32 weight's address.
        case copies([Int: BF16Matrix])
        /// Each matrix's (rows = out, columns = in) shape, and one scratch of the largest.
        case convertedOnUse(shapes: [Int: (rows: Int, columns: Int)], scratch: BF16Matrix)
        /// A bf16 arena's own matrices (views, by their `readAddress`) with each one's first logical
        /// element; while the arena has a read perturbation, a product's panel θ + s·z is rounded
        /// into `scratch` (the size of the largest block matrix) and the arena is never written.
        case resident(matrices: [Int: (matrix: BF16Matrix, offset: Int)], arena: ParameterArena, scratch: BF16Matrix)
    }

    let storage: Storage
    let linear = BF16Linear()

    /// - Parameter weights: each matrix with its (rows = out, columns = in) shape.
    /// - Parameter convertedOnUse: round each matrix right before its product instead of keeping copies.
    init(_ weights: [(UnsafeMutablePointer<Float>, rows: Int, columns: Int)], convertedOnUse: Bool = false) throws {
        guard BF16Linear.isSupported else {
            throw ModelError("bf16 products need a CPU with AVX512_BF16 (or AMX); use fp32 on this machine")
        }
        if convertedOnUse {
            var shapes: [Int: (rows: Int, columns: Int)] = [:]
            for (p, rows, columns) in weights { shapes[Int(bitPattern: p)] = (rows, columns) }
            storage = .convertedOnUse(shapes: shapes,
                                      scratch: BF16Matrix(capacity: weights.map { $0.rows * $0.columns }.max() ?? 0))
        } else {
            var copies: [Int: BF16Matrix] = [:]
            for (p, rows, columns) in weights { copies[Int(bitPattern: p)] = BF16Matrix(p, rows: rows, columns: columns) }
            storage = .copies(copies)
        }
    }

    /// The matrices of a bf16 arena, read where they are (`Storage.resident`).
    /// - Parameter names: the block matrices' names (the products' weights).
    init(resident arena: ParameterArena, names: [String]) throws {
        guard BF16Linear.isSupported else {
            throw ModelError("--weights bf16 needs a CPU with AVX512_BF16 (or AMX) for its products; use --weights f32 on this machine")
        }
        var matrices: [Int: (matrix: BF16Matrix, offset: Int)] = [:]
        var largest = 0
        for name in names {
            guard let slot = arena.slot(name), slot.isHalf, slot.shape.count == 2 else {
                preconditionFailure("\(name) is not a bf16 matrix of the arena")
            }
            let view = BF16Matrix(viewing: arena.halfPointer(slot), rows: slot.shape[0], columns: slot.shape[1])
            matrices[Int(bitPattern: arena.readAddress(name))] = (view, slot.offset)
            largest = max(largest, slot.count)
        }
        storage = .resident(matrices: matrices, arena: arena, scratch: BF16Matrix(capacity: largest))
    }

    /// The bf16 version of `w` for a product now, or nil if `w` is not one of the block matrices.
    @inline(__always)
    func matrix(_ w: UnsafePointer<Float>) -> BF16Matrix? {
        let key = Int(bitPattern: w)
        switch storage {
        case .resident(let matrices, let arena, let scratch):
            guard let (m, offset) = matrices[key] else { return nil }
            guard let p = arena.readPerturbation else { return m }
            scratch.fill(perturbing: m) { values, first, count in p.perturb(values, start: offset + first, count: count) }
            return scratch
        case .copies(let copies): return copies[key]
        case .convertedOnUse(let shapes, let scratch):
            guard let shape = shapes[key] else { return nil }
            scratch.update(from: w, rows: shape.rows, columns: shape.columns)
            return scratch
        }
    }
}

/// y (rows, out) = x (rows, in) · Wᵀ (+ y when `accumulate`), through W's bf16 version when `low`
/// has one, else fp32 sgemm. `sameInput`: x is unchanged since the previous product, so its bf16
/// conversion is reused.
@inline(__always)
func product(_ low: LowPrecisionProducts?, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
             _ y: UnsafeMutablePointer<Float>, rows: Int, out: Int, in: Int, accumulate: Bool = false,
             sameInput: Bool = false) {
    if let low, let w16 = low.matrix(w) {
        low.linear(x, w16, y, m: rows, accumulate: accumulate, sameInput: sameInput)
    } else {
        BLAS.linear(x, w, y, m: rows, n: out, k: `in`, accumulate: accumulate)
    }
}
