import Optimizers
import Weights
import XCTest

/// Pipeline stages without MPI: two arenas of the same layout, each restricted to its part (the
/// first holds the embedding table and the first block, the second the rest), take the same MeZO
/// steps as one unrestricted arena, each receiving the losses the whole arena gave (as pipeline
/// ranks all receive the last stage's). Each stage's part must then be bitwise the whole arena's,
/// in both z distributions, with weight decay and embedding rows, and the elements a stage does
/// not hold must never be touched.
final class MeZORestrictionTests: XCTestCase {
    static let specs = [ParameterSpec("table", [12, 40], .embedding), ParameterSpec("block0.norm", [40], .norm),
                        ParameterSpec("block0.w", [40, 40], .matrix), ParameterSpec("block1.w", [40, 40], .matrix),
                        ParameterSpec("final.norm", [40], .norm)]

    func fill(_ arena: ParameterArena, _ only: [Range<Int>]? = nil) {
        for r in only ?? [0..<arena.count] {
            for i in r { arena.storage[i] = Float(sin(Double(i) * 0.37)) }
        }
    }

    func testStagesTakeTheWholeArenasStepsOnTheirParts() {
        for perturbation in [Perturbation.rademacher, .gaussian] {
            let whole = ParameterArena(specs: Self.specs)
            fill(whole)
            let stages = [ParameterArena(specs: Self.specs), ParameterArena(specs: Self.specs)]
            let table = whole.slot("table")!, w1 = whole.slot("block1.w")!
            let parts = [[0..<w1.offset], [w1.offset..<whole.count]]
            // Sentinel outside each part: must survive every step.
            for (stage, part) in zip(stages, parts) {
                stage.storage.update(repeating: 7, count: stage.count)
                fill(stage, part)
            }
            let make = { (arena: ParameterArena, restriction: [Range<Int>]?) -> MeZO in
                let m = MeZO(arena: arena, eps: 1e-2, weightDecay: 0.1, perturbation: perturbation, threads: 2)
                m.restriction = restriction
                return m
            }
            let reference = make(whole, nil)
            let restricted = zip(stages, parts).map { make($0, $1) }
            func loss(_ arena: ParameterArena) -> Float {
                var total = 0.0
                for i in 0..<arena.count { total += Double(arena.storage[i]) * Double(i % 7) }
                return Float(total * 1e-3)
            }
            for step in 0..<5 {
                let rows: [Int32]? = step % 2 == 0 ? [1, 4, 5, 11] : nil
                let seeds = [UInt64(100 + step), UInt64(200 + step)]
                let expected = reference.step(step, seeds: seeds, embeddingRows: rows, lr: 0.05) { loss(whole) }
                XCTAssertNotEqual(expected.projectedGradients[0], 0)
                for m in restricted {
                    var shared = zip(expected.lossPlus, expected.lossMinus).flatMap { [$0, $1] }
                    let got = m.step(step, seeds: seeds, embeddingRows: rows, lr: 0.05) { shared.removeFirst() }
                    XCTAssertEqual(got, expected, "\(perturbation) step \(step)")
                }
            }
            for (stage, part) in zip(stages, parts) {
                for i in 0..<whole.count {
                    let mine = part.contains { $0.contains(i) }
                    let wanted = mine ? whole.storage[i] : 7
                    if stage.storage[i].bitPattern != wanted.bitPattern {
                        XCTFail("\(perturbation): element \(i) (\(mine ? "held" : "not held")) = \(stage.storage[i]), expected \(wanted)")
                        break
                    }
                }
            }
            XCTAssertEqual(table.offset, 0)
        }
    }
}
