import Foundation
import Tensors
import Weights

/// A bf16 arena's token embedding and output head, read the way a forward needs them
/// (docs/weights-16bit.md): gathered embedding rows and candidate head rows widened to f32, full
/// logits through oneDNN straight from the head's bf16 bits. While the arena has a read
/// perturbation (MeZO's no-write forwards) every element read is θ + s·z, as an f32 arena perturbed
/// in place would hold it; the arena itself is never written.
final class BF16Heads {
    let arena: ParameterArena
    let embedding: ParameterSlot      // (V, C)
    let head: ParameterSlot           // (V, C), the embedding when tied
    let headMatrix: BF16Matrix        // view of the head's bits
    let linear = BF16Linear()
    /// Rows of the head perturbed at once for full logits (panel: (panelRows, C) bf16, out: (rows, panelRows)).
    static let panelRows = 4096
    private lazy var panel = BF16Matrix(capacity: min(Self.panelRows, head.shape[0]) * head.shape[1])

    init(arena: ParameterArena, config: DecoderConfig) throws {
        self.arena = arena
        guard let e = arena.slot(DecoderLayout.embedding), e.isHalf,
              let h = arena.slot(config.tieWordEmbeddings ? DecoderLayout.embedding : DecoderLayout.outputHead), h.isHalf else {
            throw ModelError("a bf16 arena must hold the embedding and output head as bf16")
        }
        embedding = e
        head = h
        headMatrix = BF16Matrix(viewing: arena.halfPointer(h), rows: h.shape[0], columns: h.shape[1])
    }

    /// One row of a bf16 table widened (+ the read perturbation).   out: (C)
    @inline(__always)
    func row(_ slot: ParameterSlot, _ index: Int, into out: UnsafeMutablePointer<Float>) {
        let C = slot.shape[1]
        let src = arena.halfPointer(slot) + index * C
        BFloat16.widen(src, into: out, count: C)
        arena.readPerturbation?.perturb(out, start: slot.offset + index * C, count: C)
    }

    /// out[r] = E[token r] · scale.   out: (N, C)
    func embed(_ tokens: [Int32], into out: UnsafeMutablePointer<Float>, scale: Float) {
        let C = embedding.shape[1], V = embedding.shape[0]
        for (r, t) in tokens.enumerated() {
            precondition(t >= 0 && Int(t) < V, "token id \(t) outside the vocabulary (\(V))")
            let dst = out + r * C
            row(embedding, Int(t), into: dst)
            for i in 0..<C { dst[i] = dst[i] * scale }
        }
    }

    /// Row `id` of the output head, widened (+ the read perturbation).   out: (C)
    func headRow(_ id: Int, into out: UnsafeMutablePointer<Float>) { row(head, id, into: out) }

    /// Full logits (rows, V) = hidden (rows, C) · headᵀ in bf16 products with f32 accumulation;
    /// under a read perturbation the head goes through `panel` `panelRows` rows at a time.
    func logits(_ hidden: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int) {
        guard let p = arena.readPerturbation else {
            linear(hidden, headMatrix, out, m: rows)
            return
        }
        let V = head.shape[0], offset = head.offset
        let part = UnsafeMutablePointer<Float>.allocate(capacity: rows * min(Self.panelRows, V))   // (rows, panel rows)
        defer { part.deallocate() }
        for r0 in stride(from: 0, to: V, by: Self.panelRows) {
            let n = min(Self.panelRows, V - r0)
            panel.fill(perturbing: headMatrix, rows: n, firstRow: r0) { values, first, count in
                p.perturb(values, start: offset + first, count: count)
            }
            linear(hidden, panel, part, m: rows, sameInput: r0 > 0)
            for r in 0..<rows { memcpy(out + r * V + r0, part + r * n, n * 4) }
        }
    }
}
