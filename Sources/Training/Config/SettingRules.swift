import Foundation
import Tasks

/// The range of one numeric setting, checked wherever a value can come from: the command line's
/// `validate()` (named `--flag`) and a run folder's run.json (named by its file and `"key"`). One
/// rule per setting, so the two can never disagree, and nothing a user or a file sets reaches the
/// unchecked kernels (Tensors, Optimizers: -Ounchecked) or an Int overflow.
///
/// Upper bounds are far above any real run and low enough that the products built from a setting
/// (steps × batch, tokens × width) stay inside Int.
public struct CountRule: Sendable {
    public let flag: String
    public let key: String
    public let range: ClosedRange<Int>

    public init(flag: String, key: String, _ range: ClosedRange<Int>) {
        (self.flag, self.key, self.range) = (flag, key, range)
    }

    /// Why `value` is out of range ("must be at least 1, not 0"), nil when it is fine.
    public func problem(_ value: Int) -> String? {
        if value < range.lowerBound { return "must be at least \(range.lowerBound), not \(value)" }
        if value > range.upperBound { return "must be at most \(range.upperBound), not \(value)" }
        return nil
    }

    /// The command line's message ("--steps must be at least 1, not 0"), nil when fine.
    public func flagProblem(_ value: Int?) -> String? { value.flatMap(problem).map { "\(flag) \($0)" } }

    /// Throws an error naming the file and key when `value` is out of range.
    public func check(_ value: Int?, in file: String) throws {
        if let value, let why = problem(value) { throw SettingError(file: file, key: key, why) }
    }
}

/// The range of a real-valued setting: always finite (inf and nan are refused), above `lower`
/// (or at it when `lowerIncluded`) and at most `upper`.
public struct RealRule: Sendable {
    public let flag: String
    public let key: String
    public let lower: Double
    public let lowerIncluded: Bool
    public let upper: Double

    public init(flag: String, key: String, above lower: Double, orEqual: Bool = false, atMost upper: Double) {
        (self.flag, self.key, self.lower, self.lowerIncluded, self.upper) = (flag, key, lower, orEqual, upper)
    }

    public func problem(_ value: Double) -> String? {
        let low = lowerIncluded ? value >= lower : value > lower
        guard value.isFinite, low, value <= upper else {
            return "must be a finite number \(lowerIncluded ? "≥" : ">") \(lower) and ≤ \(upper), not \(value)"
        }
        return nil
    }

    public func flagProblem<F: BinaryFloatingPoint>(_ value: F?) -> String? {
        value.flatMap { problem(Double($0)) }.map { "\(flag) \($0)" }
    }

    public func check<F: BinaryFloatingPoint>(_ value: F?, in file: String) throws {
        if let value, let why = problem(Double(value)) { throw SettingError(file: file, key: key, why) }
    }
}

/// The rules of the settings that are not an optimizer's (those live with the optimizers' own
/// options): run length, batches, data sampling, evaluation, threads, adapters, encoders, generation.
public enum SettingRules {
    static let huge = 1_000_000_000

    public static let steps = CountRule(flag: "--steps", key: "steps", 1...huge)
    public static let batchSize = CountRule(flag: "--batch-size", key: "batch_size", 1...1_000_000)
    public static let microBatch = CountRule(flag: "--micro-batch", key: "micro_batch", 1...1_000_000)
    public static let trainExamples = CountRule(flag: "--train-examples", key: "train_examples", 1...huge)
    public static let kShot = CountRule(flag: "--k-shot", key: "k_shot", 1...1_000_000)
    public static let evalEvery = CountRule(flag: "--eval-every", key: "eval_every", 0...huge)
    public static let evalExamples = CountRule(flag: "--eval-examples", key: "eval_examples", 1...huge)
    public static let patience = CountRule(flag: "--patience", key: "patience", 1...huge)
    public static let checkEvery = CountRule(flag: "--check-every", key: "check_every", 0...huge)
    public static let threads = CountRule(flag: "--threads", key: "threads", 1...4096)
    /// LoRA's rank: far above the MeZO paper's 8 and peft's usual 64; a rank beyond a projection's
    /// width adds parameters without adding directions.
    public static let loraRank = CountRule(flag: "--lora-rank", key: "lora_rank", 1...65_536)
    public static let loraAlpha = RealRule(flag: "--lora-alpha", key: "lora_alpha", above: 0, atMost: 1e9)
    /// Prefix vectors per layer; the model's positions bound them again when prompts are built.
    public static let prefixTokens = CountRule(flag: "--prefix-tokens", key: "prefix_tokens", 1...1_000_000)
    /// Encoders: cos / T. Above 0 (it divides), finite.
    public static let temperature = RealRule(flag: "--temperature", key: "temperature", above: 0, atMost: 1e6)
    /// Generation: the model's positions bound the tokens generated again; this keeps
    /// prompt + max-new-tokens inside Int.
    public static let maxNewTokens = CountRule(flag: "--max-new-tokens", key: "max_new_tokens", TaskSpec.maxNewTokensRange)
    public static let demonstrations = CountRule(flag: "--demonstrations", key: "demonstrations.k", TaskSpec.demonstrationsRange)
    /// `profile --memory-limit` in GB: a million GB is beyond any machine and keeps GB × 1e9 inside Int.
    public static let memoryLimitGB = RealRule(flag: "--memory-limit", key: "memory_limit", above: 0, atMost: 1_000_000)
    /// `--lr auto`'s measurement schedule (run.json only: not a flag).
    public static let autoWarmup = CountRule(flag: "--auto-warmup", key: "lr_auto.warmup", 0...huge)
    public static let autoEvery = CountRule(flag: "--auto-every", key: "lr_auto.every", 1...huge)

    /// Label descriptions of an encoder task: one per label, and a classification has two labels at least.
    public static func labelDescriptionsProblem(count: Int) -> String? {
        count >= 2 ? nil : "needs one text per label (at least two), not \(count)"
    }
}
