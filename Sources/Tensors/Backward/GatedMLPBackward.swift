/// Backward of `gatedActivationForward`, out = act(gate) ⊙ up:
///   dUp   = dOut ⊙ act(gate)
///   dGate = dOut ⊙ up ⊙ act′(gate)
/// with, for s = σ(·):
///   SiLU       act(x) = x·σ(x)                      act′(x) = s · (1 + x·(1 − s))
///   GELU tanh  act(x) = x·σ(2u), u = c(x + a·x³)    act′(x) = s + 2x · s(1 − s) · c(1 + 3a·x²)
///              (c = √(2/π), a = 0.044715; the tanh form 0.5(1 + t) + 0.5x(1 − t²)u′ with t = 2s − 1)
///
///   dOut, gate, up: (count)   dGate, dUp: (count), overwritten; either may alias dOut (each
///   element is read before it is written).
public func gatedActivationBackward(dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>,
                                    dOut: UnsafePointer<Float>, gate: UnsafePointer<Float>,
                                    up: UnsafePointer<Float>, count: Int, activation: GateActivation,
                                    threads: Int = Threads.count) {
    OpTimer.measure(.activation) {
        parallelFor(count, threads: threads, minChunk: 1 << 14) { range in
            let base = range.lowerBound
            forEachVector(range.count) { i, n in
                let x = loadPartial(gate + base + i, n)
                let u = loadPartial(up + base + i, n)
                let d = loadPartial(dOut + base + i, n)
                let act: Vec, slope: Vec
                switch activation {
                case .silu:
                    let s = 1 / (1 + vexp(-x))
                    act = x * s
                    slope = s * (1 + x * (1 - s))
                case .geluTanh:
                    let c: Float = 0.7978845608028654, a: Float = 0.044715
                    let x2 = x * x
                    let s = 1 / (1 + vexp(-2 * c * (x + a * x2 * x)))
                    act = x * s
                    slope = s + 2 * x * s * (1 - s) * c * (1 + 3 * a * x2)
                }
                storePartial(d * act, dUp + base + i, n)
                storePartial(d * u * slope, dGate + base + i, n)
            }
        }
    }
}
