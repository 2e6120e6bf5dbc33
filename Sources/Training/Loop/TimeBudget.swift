import Foundation

/// `train --budget`: a wall-clock limit on one invocation of a run. The loop stops before a step
/// that would not leave time for itself and the closing dev evaluation, then evaluates and saves,
/// so the run ends inside the budget with a dev number and its best weights. Where a run stops
/// depends on the clock, but what it computes does not: every step is logged as it is taken, so
/// replay and `--resume` are bitwise the same as for a run that was given that many `--steps`.
public struct TimeBudget: Sendable, Equatable, CustomStringConvertible {
    public let seconds: Double
    /// The step count of a run given a budget and no `--steps`: far past any budget on a CPU.
    public static let stepCap = 10_000_000

    public init(seconds: Double) { self.seconds = seconds }

    /// Parses "90s", "45m", "2h", "1h30m", "1.5h" or a bare number of seconds.
    public init?(parsing text: String) {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var total = 0.0, number = "", sawUnit = false
        for c in text.lowercased() where c != " " {
            if c.isNumber || c == "." {
                number.append(c)
            } else if let unit = units[c], let value = Double(number) {
                total += value * unit
                number = ""
                sawUnit = true
            } else {
                return nil
            }
        }
        if !number.isEmpty {
            guard !sawUnit, let value = Double(number) else { return nil }   // "1h30" is ambiguous
            total = value
        } else if !sawUnit {
            return nil
        }
        guard total.isFinite, total > 0 else { return nil }
        seconds = total
    }

    /// "1h30m", "45m", "20s".
    public var description: String { ProgressEstimate.duration(seconds) }

    /// What ends a run of `steps` under `budget`, for its log: "1000 steps", "1000 steps or a
    /// budget of 2h00m", or "until a budget of 2h00m is spent" (no --steps: `stepCap`).
    public static func limitText(steps: Int, budget: TimeBudget?) -> String {
        guard let budget else { return "\(steps) steps" }
        return steps == stepCap ? "until a budget of \(budget) is spent" : "\(steps) steps or a budget of \(budget)"
    }

    /// Whether one more step fits in the seconds left: its own time and, when the run evaluates
    /// on dev, one evaluation (the one at its end). Before anything is timed: yes.
    public func allowsAnotherStep(elapsed: Double, estimate: ProgressEstimate) -> Bool {
        guard let perStep = estimate.secondsPerStep else { return elapsed < seconds }
        let closing = estimate.evalEvery > 0 ? estimate.secondsPerEvaluation ?? 0 : 0
        return elapsed + perStep + closing <= seconds
    }
}
