import Foundation
import Models
import Tensors
import Weights

/// Backprop's peak, predicted from the memory plan before anything large is allocated, against
/// the memory the machine has: a run that cannot fit is refused up front with the figure and what
/// would fit, instead of loading for a minute and then being killed by the kernel (issue 22).
///
/// Zeroth-order methods are never refused here: their plan is the weights plus one layer's
/// buffers, which loading the model for inference needs anyway.
public enum MemoryAdmission {
    /// The process's own footprint besides the plan (code, tokenizer, data, allocator slack),
    /// measured by `profile` as its baseline: ~0.1 GB for Gemma-3-270M, more with a large vocabulary.
    public static let baselineBytes = 200_000_000

    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// Throws a `Refusal` when `method` at `tokens` batch tokens is predicted above `available`.
    /// - Parameters:
    ///   - weights: the run's weight format (`--weights`): the plan holds the weights in it.
    ///   - predict: the plan of a method for a batch of the given token count with weights in the
    ///     given format (`MemoryPlan.predict`).
    ///   - batchSize: the run's examples per batch; `tokens` are those of its largest batch.
    ///   - limitSource: what `available` is, for the message ("MemAvailable", "--memory-limit").
    public static func check(method: ProfileMethod, tokens: Int, batchSize: Int, weights: WeightFormat, available: Int,
                             limitSource: String, predict: (ProfileMethod, Int, WeightFormat) -> [MemoryTag: Int]) throws {
        let peak = total(predict(method, tokens, weights))
        guard peak > available else { return }
        var fits: [String] = []
        // Activations scale with the batch's tokens; weights, gradients and moments do not.
        if let smaller = stride(from: batchSize - 1, through: 1, by: -1).first(where: {
            total(predict(method, max(1, tokens * $0 / batchSize), weights)) <= available
        }) {
            fits.append("--batch-size \(smaller) (\(gigabytes(total(predict(method, max(1, tokens * smaller / batchSize), weights)))))")
        }
        let optimizer = method.optimizer?.rawValue ?? "adamw"
        var alternatives: [(ProfileMethod?, WeightFormat, String)] =
            [(ProfileMethod(rawValue: "lora-\(optimizer)"), weights, "--peft lora"), (.mezo, weights, "--optimizer mezo")]
        // MeZO on 16-bit weights holds half the bytes: named when MeZO on f32 weights does not fit.
        if weights == .f32, total(predict(.mezo, tokens, .f32)) > available {
            alternatives.append((.mezo, .bf16, "--optimizer mezo --weights bf16"))
        }
        for (alternative, format, flags) in alternatives {
            guard let alternative, alternative != method || format != weights else { continue }
            let bytes = total(predict(alternative, tokens, format))
            if bytes <= available { fits.append("\(flags) (\(gigabytes(bytes)))") }
        }
        let parts = predict(method, tokens, weights).sorted { $0.value > $1.value }
            .map { "\($0.key.rawValue) \(gigabytes($0.value))" }.joined(separator: ", ")
        throw Refusal(description: """
            --optimizer \(optimizer)\(method.peft == .none ? "" : " --peft \(method.peft.rawValue)") on \(weights.rawValue) weights \
            is predicted to peak at \
            \(gigabytes(peak)) (\(parts), plus ~\(gigabytes(baselineBytes)) for the process), above the \
            \(gigabytes(available)) available (\(limitSource)); not started. \
            \(fits.isEmpty ? "Nothing smaller fits either: free memory or use a smaller model." : "What fits: " + fits.joined(separator: "; ") + ".")
            """)
    }

    static func total(_ plan: [MemoryTag: Int]) -> Int { plan.values.reduce(baselineBytes, +) }

    static func gigabytes(_ bytes: Int) -> String { String(format: "%.2f GB", Double(bytes) / 1e9) }
}
