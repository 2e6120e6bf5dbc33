/// The range of one numeric setting, written once and checked wherever a value can come from: the
/// flag (`OptimizerOptions.validate`), a run's run.json (`OptimizerChecks`, when a run folder is
/// opened) and a `train --config` file (`TrainConfigFile`). The problem text is the same in all
/// three; only the name in front differs (`--lozo-interval` or `FILE: "lozo_interval"`).
public struct SettingRule: Sendable {
    public enum Bound: Sendable {
        case open(Double), closed(Double)
        var value: Double { switch self { case .open(let v), .closed(let v): return v } }
    }
    public let lower: Bound?
    public let upper: Bound?
    /// Counts (ranks, intervals, perturbations): whole numbers only.
    public let whole: Bool

    public init(lower: Bound?, upper: Bound?, whole: Bool = false) {
        (self.lower, self.upper, self.whole) = (lower, upper, whole)
    }

    /// At least `n` (and at most `max`, far above any real run, so products built from it stay in Int).
    public static func count(atLeast n: Int, atMost max: Int) -> SettingRule {
        SettingRule(lower: .closed(Double(n)), upper: .closed(Double(max)), whole: true)
    }
    /// The largest value a rule without an upper bound takes.
    public static let ceiling = 1e6
    /// > 0 and finite: ε, a norm, a fraction.
    public static let positive = SettingRule(lower: .open(0), upper: nil)
    /// ≥ 0 and finite: a learning rate, a decay.
    public static let nonNegative = SettingRule(lower: .closed(0), upper: nil)
    /// [0, 1): decay rates (β, μ, α), where 1 would never forget and divide Adam's corrections by 0.
    public static let decayRate = SettingRule(lower: .closed(0), upper: .open(1))
    /// (0, 1]: a fraction of the weights.
    public static let fraction = SettingRule(lower: .open(0), upper: .closed(1))

    /// Why `value` is refused ("must be at least 1, not 0"), nil when it is fine.
    public func problem(_ value: Double) -> String? {
        // As the user wrote it: a count as an integer, a Float setting (most are) by its shortest digits.
        let shown = whole && value.isFinite && value == value.rounded() && abs(value) < 1e18 ? "\(Int(value))"
            : Double(Float(value)) == value ? "\(Float(value))" : "\(value)"
        if whole {
            guard value.isFinite, value == value.rounded() else { return "must be a whole number, not \(shown)" }
            if let lower, value < lower.value { return "must be at least \(Int(lower.value)), not \(shown)" }
            if let upper, value > upper.value { return "must be at most \(Int(upper.value)), not \(shown)" }
            return nil
        }
        let low: Bool = { switch lower { case nil: return true; case .open(let l)?: return value > l; case .closed(let l)?: return value >= l } }()
        let high: Bool = { switch upper { case nil: return true; case .open(let u)?: return value < u; case .closed(let u)?: return value <= u } }()
        // Finite as the Float the setting is kept in (1e300 is a finite Double but an infinite Float).
        guard Float(value).isFinite && low && high else { return "must be \(range), not \(shown)" }
        // A rule with no upper bound still has a ceiling far above any real run: a value near
        // Float's largest only overflows what it scales (lr·g, ε·z, the clipping norm's square).
        if upper == nil, value > Self.ceiling { return "must be at most \(Int(Self.ceiling)), not \(shown)" }
        return nil
    }

    /// The range in words: "positive and finite", "in [0, 1)".
    var range: String {
        func number(_ v: Double) -> String { v == v.rounded() ? "\(Int(v))" : "\(v)" }
        switch (lower, upper) {
        case (.open(0)?, nil): return "positive and finite"
        case (.closed(0)?, nil): return "0 or more and finite"
        case (let l?, let u?):
            let left: String = { if case .open = l { return "(" } else { return "[" } }()
            let right: String = { if case .open = u { return ")" } else { return "]" } }()
            return "in \(left)\(number(l.value)), \(number(u.value))\(right)"
        case (let l?, nil): return "\(l.isOpen ? "above" : "at least") \(number(l.value)) and finite"
        case (nil, let u?): return "\(u.isOpen ? "below" : "at most") \(number(u.value))"
        case (nil, nil): return "finite"
        }
    }
}

extension SettingRule.Bound {
    var isOpen: Bool { if case .open = self { return true } else { return false } }
}
