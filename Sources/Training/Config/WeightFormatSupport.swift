import Optimizers
import Weights

extension TrainingConfig {
    /// Refuses, before anything loads, what a run cannot train with its weights held as bf16
    /// (docs/weights-16bit.md), naming the optimizer and the way out.
    /// - MeZO and zo-sign read θ ± εz without writing θ and update with stochastic rounding.
    /// - Backprop (sgd, adamw; full or PEFT) needs f32: its updates need f32 master weights, and
    ///   its backward reads the base matrices as f32.
    /// - The other zeroth-order optimizers write θ ± εz in place (ZerothOrderCore.twoPoint) or
    ///   move it by more than −lr·g·z, which bf16 rounding would not restore: refused on the whole
    ///   model. With adapters (--peft) the base is read-only and they train f32 adapters: allowed.
    public func checkWeightFormat(encoder: Bool) throws {
        guard weightFormat == .bf16 else { return }
        if encoder {
            throw RunError("--weights bf16 is for decoders; this model is an encoder: use --weights f32")
        }
        if optimizer.usesBackprop {
            throw RunError("--optimizer \(optimizer.rawValue) with --weights bf16: backprop needs f32 master weights "
                           + "(its updates fall below a bf16 ulp, and its backward reads the weights as f32); "
                           + "use --weights f32, or a zeroth-order optimizer (mezo) on the bf16 weights")
        }
        if peft == .none && !Self.bf16Optimizers.contains(optimizer) {
            throw RunError("--optimizer \(optimizer.rawValue) with --weights bf16: it perturbs or moves the weights in place, "
                           + "which bf16 rounding would not undo; use --weights f32 (or mezo / zo-sign, or --peft lora|prefix "
                           + "over the frozen bf16 base)")
        }
    }

    /// The optimizers that train a whole bf16 model (MeZO and zo-sign, `NoWriteMeZO.swift`): those
    /// whose registry line says `bf16Weights`.
    public static var bf16Optimizers: Set<Optimizer> { Set(Optimizer.allCases.filter { $0.zerothOrder?.bf16Weights == true }) }
}
