/// A perturbation the forward applies where it reads the weights, instead of writing it into them:
/// MeZO on a bf16 arena reads θ ± εz this way (docs/weights-16bit.md), so θ keeps its bits between
/// the two forwards. Implemented by the optimizer (which owns z's generator); the model and the
/// arena only call it. Safe to call from several threads at once on disjoint elements.
public protocol ReadPerturbation: AnyObject, Sendable {
    /// values[j] += scale·z(start + j) for each j in 0..<count whose logical element start + j is
    /// inside the step's perturbed region; other values are left as they are.
    /// - Parameter values: the elements at logical indices start..<start+count, as f32.   (count)
    func perturb(_ values: UnsafeMutablePointer<Float>, start: Int, count: Int)
}
