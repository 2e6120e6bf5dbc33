import ArgumentParser
import Training

/// The command line's side of `SettingRules`: a flag out of its rule's range is a `ValidationError`
/// naming the flag (exit status 64 before anything runs), with the words run.json's check uses.
extension CountRule {
    func validate(_ value: Int?) throws {
        if let message = flagProblem(value) { throw ValidationError(message) }
    }

    /// A rule for a flag of one command only (no run.json key).
    static func flag(_ flag: String, _ range: ClosedRange<Int>) -> CountRule {
        CountRule(flag: flag, key: String(flag.drop(while: { $0 == "-" })), range)
    }
}

extension RealRule {
    func validate<F: BinaryFloatingPoint>(_ value: F?) throws {
        if let message = flagProblem(value) { throw ValidationError(message) }
    }
}
