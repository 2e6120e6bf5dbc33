import Foundation

/// How long the rest of a run will take, from training steps and dev evaluations timed apart:
/// an evaluation (SST-2 dev: ~27 s on Gemma-3-270M) costs as much as ~60 MeZO steps, so counting
/// the first one as step time made the first ETA hours long, and leaving the evaluations still to
/// come out made it short. Remaining = steps left × seconds per step + evaluations left × seconds per
/// evaluation. The first step of a process is slower (weights paged in, buffers first touched), so
/// once later steps are timed it is left out of the mean.
public struct ProgressEstimate: Sendable {
    public let totalSteps: Int
    public let evalEvery: Int
    private var firstStep: Double?
    private var laterSteps = 0.0, laterCount = 0
    private var evaluations = 0.0, evaluationCount = 0

    public init(totalSteps: Int, evalEvery: Int) {
        self.totalSteps = totalSteps
        self.evalEvery = evalEvery
    }

    public mutating func recordStep(seconds: Double) {
        if firstStep == nil { firstStep = seconds } else { laterSteps += seconds; laterCount += 1 }
    }

    public mutating func recordEvaluation(seconds: Double) {
        evaluations += seconds
        evaluationCount += 1
    }

    /// Mean seconds of a training step (nil before the first).
    public var secondsPerStep: Double? {
        laterCount > 0 ? laterSteps / Double(laterCount) : firstStep
    }

    /// Mean seconds of an evaluation (nil before the first).
    public var secondsPerEvaluation: Double? { evaluationCount > 0 ? evaluations / Double(evaluationCount) : nil }

    /// Evaluations the loop still makes after `step` steps: at every multiple of evalEvery up to
    /// the last step, and at the last step when it is not one.
    public func evaluationsRemaining(after step: Int) -> Int {
        guard evalEvery > 0, step < totalSteps else { return 0 }
        return totalSteps / evalEvery - step / evalEvery + (totalSteps % evalEvery == 0 ? 0 : 1)
    }

    /// Seconds until the run ends, after `step` steps; nil until a step has been timed.
    public func remainingSeconds(after step: Int) -> Double? {
        guard let perStep = secondsPerStep else { return nil }
        let evaluationsLeft = Double(evaluationsRemaining(after: step))
        // An evaluation not yet timed is guessed at zero: said by the line showing no eval time.
        return Double(totalSteps - step) * perStep + evaluationsLeft * (secondsPerEvaluation ?? 0)
    }

    /// "1h02m", "3m05s", or "-" for an unknown duration.
    public static func duration(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite, seconds >= 0 else { return "-" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}

/// Progress on stderr: on a terminal one line rewritten in place ("\r", erase to end of line), with
/// messages (evaluations, notes) printed above it; elsewhere (logs, CI) plain lines at most every
/// `plainInterval` seconds, so a log file grows by a line, not by thousands of carriage returns.
public final class ProgressLine {
    let isTerminal: Bool
    let write: (String) -> Void
    let clock: () -> Double
    let plainInterval: Double
    private var current: String?
    private var drawn: String?
    private var lastShown = -Double.infinity

    public init(isTerminal: Bool, plainInterval: Double = 5, clock: @escaping () -> Double = ProgressLine.monotonicSeconds,
                write: @escaping (String) -> Void) {
        (self.isTerminal, self.plainInterval, self.clock, self.write) = (isTerminal, plainInterval, clock, write)
    }

    /// Progress on the process's stderr, rewritten in place when stderr is a terminal.
    public static func standardError() -> ProgressLine {
        ProgressLine(isTerminal: isatty(STDERR_FILENO) != 0) { FileHandle.standardError.write(Data($0.utf8)) }
    }

    /// Seconds from a monotonic clock (unaffected by changes of the wall clock).
    public static func monotonicSeconds() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    /// Shows `text` as the current progress; `force` shows it even within the plain-line interval.
    public func update(_ text: String, force: Bool = false) {
        let now = clock()
        if isTerminal {
            current = text
            guard force || now - lastShown >= 0.1 else { return }
            write("\r" + text + "\u{1B}[K")
            drawn = text
        } else {
            guard force || now - lastShown >= plainInterval else { return }
            write(text + "\n")
        }
        lastShown = now
    }

    /// Prints `message` as a line of its own, above the progress line on a terminal.
    public func message(_ message: String) {
        if isTerminal, let current {
            write("\r\u{1B}[K" + message + "\n" + current + "\u{1B}[K")
        } else {
            write(message + "\n")
        }
    }

    /// Ends the progress line, drawn in its last state (a terminal's cursor moves to a fresh line).
    public func finish() {
        if isTerminal, let current {
            write((current == drawn ? "" : "\r" + current + "\u{1B}[K") + "\n")
        }
        current = nil
        drawn = nil
    }
}
