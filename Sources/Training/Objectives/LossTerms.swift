/// How a batch loss is made of per-example terms (`TrainingTask.lossTerms`): summed in Double in
/// batch order, from 0, then divided. Every task's `loss` goes through here, so a data-parallel
/// run that gathers the same terms from its ranks and sums them here gets the same bits.
public enum LossTerms {
    public static func mean(_ terms: [Double], divisor: Double) -> Float {
        Float(terms.reduce(0, +) / divisor)
    }
}
