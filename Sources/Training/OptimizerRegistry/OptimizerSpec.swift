import Optimizers
import Weights

/// A zeroth-order optimizer as the training loop, replay, `profile` and `train` see it: everything
/// about it except its arithmetic (which is its own file in `Optimizers/`). One `OptimizerRegistry`
/// line each; the defaults below are those most methods share.
public struct ZerothOrderSpec: Sendable {
    public let name: String
    /// The paper and the reference code followed (`train --help` prints it).
    public let paper: String
    /// lr when --lr is not given: the best of the method's grid on SST-2 with Gemma-3-270M (README).
    public let defaultLR: Float
    /// When measured: the default lr by the run's planned length, which a new run takes instead of
    /// `defaultLR` (then the rule's value at the default --steps, kept for configs that name no lr).
    public let lrByLength: LRByLength?
    /// ε when --eps is not given.
    public let defaultEps: Float
    /// Perturbations per step when --perturbations is not given, and those the method accepts.
    public let defaultPerturbations: Int
    public let perturbations: ClosedRange<Int>
    /// z's distribution when --perturbation is not given (nil: the run's default, Rademacher).
    public let defaultPerturbation: Perturbation?
    /// Forward passes of one step with q perturbations (the comparison's budget unit).
    public let forwards: @Sendable (_ q: Int) -> Int
    /// Arenas of state of the weights' size, snapshotted beside weights-last (momentum, moments, Σ).
    public let stateArenas: Int
    /// Bytes the method holds beyond inference that are not snapshotted, for `count` parameters (a mask).
    public let scratchBytes: @Sendable (_ count: Int) -> Int
    /// The settings it owns beyond the family's (`ZerothOrderSpec.familySettings`).
    public let settings: [OptimizerSetting]
    /// Whether `--lr auto` applies: the update is −lr·g·z with g the two-point estimate along the
    /// perturbation, so the stability limit of `AutoLearningRate` is the method's.
    public let autoLR: Bool
    /// Whether it trains a whole model held in bf16 (`--weights bf16`): its update is −lr·g·z
    /// written once per step (stochastic rounding), with the forwards reading θ ± εz
    /// (docs/weights-16bit.md); in-place perturbations or other moves would be lost to rounding.
    public let bf16Weights: Bool
    /// The optimizer of a run's configuration over an arena (`core`: ε, z's distribution, threads).
    public let make: @Sendable (_ config: TrainingConfig, _ core: ZerothOrderCore) -> ZerothOrderOptimizer

    public init(_ name: String, paper: String, lr: Float, lrByLength: LRByLength? = nil, eps: Float = 1e-3, perturbations: ClosedRange<Int> = 1...Int.max,
                defaultPerturbations: Int = 1, defaultPerturbation: Perturbation? = nil,
                forwards: @escaping @Sendable (Int) -> Int = { 2 * $0 }, stateArenas: Int = 0,
                scratchBytes: @escaping @Sendable (Int) -> Int = { _ in 0 }, settings: [OptimizerSetting] = [],
                autoLR: Bool = false, bf16Weights: Bool = false, make: @escaping @Sendable (TrainingConfig, ZerothOrderCore) -> ZerothOrderOptimizer) {
        self.name = name
        self.paper = paper
        defaultLR = lr
        self.lrByLength = lrByLength
        defaultEps = eps
        self.perturbations = perturbations
        self.defaultPerturbations = defaultPerturbations
        self.defaultPerturbation = defaultPerturbation
        self.forwards = forwards
        self.stateArenas = stateArenas
        self.scratchBytes = scratchBytes
        self.settings = settings
        self.autoLR = autoLR
        self.bf16Weights = bf16Weights
        self.make = make
    }

    /// The settings every zeroth-order method takes (numeric ones; --perturbation,
    /// --embedding-perturbation and --precision are the family's too).
    public static let familySettings: [OptimizerSetting] = [.eps, .perturbations]

    /// The optimizer of `config` over `arena`.
    public func make(_ config: TrainingConfig, arena: ParameterArena, threads: Int) -> ZerothOrderOptimizer {
        make(config, ZerothOrderCore(arena: arena, eps: config.eps, perturbation: config.perturbation, threads: threads))
    }

    /// The default lr in words, for help: a number, or the rule by the run's length.
    public var defaultLRText: String { lrByLength.map { "by the run's length (\($0.text))" } ?? "\(defaultLR)" }

    /// Whether it keeps state beyond the seed log (snapshotted as optimizer-last).
    public var hasState: Bool { stateArenas > 0 }

    /// Bytes of optimizer state beyond inference, for an arena of `count` floats (tag `optimizer`).
    public func stateBytes(arenaCount count: Int) -> Int {
        stateArenas * count * MemoryLayout<Float>.size + scratchBytes(count)
    }
}

/// A backprop optimizer (SGD, AdamW): gradients of the weights' size from the hand-written backward.
public struct FirstOrderSpec: Sendable {
    public let name: String
    public let paper: String
    public let defaultLR: Float
    /// Arenas of state of the trained weights' size (AdamW's two moments), tag `optimizer`.
    public let stateArenas: Int
    public let settings: [OptimizerSetting]
    public let make: @Sendable (_ config: TrainingConfig, _ arena: ParameterArena) -> FirstOrderOptimizer

    public init(_ name: String, paper: String, lr: Float, stateArenas: Int = 0, settings: [OptimizerSetting] = [],
                make: @escaping @Sendable (TrainingConfig, ParameterArena) -> FirstOrderOptimizer) {
        (self.name, self.paper, defaultLR, self.stateArenas, self.settings, self.make) = (name, paper, lr, stateArenas, settings, make)
    }

    /// The settings every backprop optimizer takes.
    public static let familySettings: [OptimizerSetting] = [.maxGradNorm]
}

/// The two families, as separate types: code that needs one says so by the case it takes.
public enum OptimizerFamily: Sendable {
    case zerothOrder(ZerothOrderSpec)
    case firstOrder(FirstOrderSpec)

    public var name: String {
        switch self {
        case .zerothOrder(let s): return s.name
        case .firstOrder(let s): return s.name
        }
    }

    /// Every numeric setting it takes: the family's and its own.
    public var settings: [OptimizerSetting] {
        switch self {
        case .zerothOrder(let s): return [.lr] + ZerothOrderSpec.familySettings + s.settings + (s.autoLR ? [.autoFraction] : [])
        case .firstOrder(let s): return [.lr] + FirstOrderSpec.familySettings + s.settings
        }
    }

    /// Bytes of optimizer state for `count` trained parameters (tag `optimizer`).
    public func stateBytes(arenaCount count: Int) -> Int {
        switch self {
        case .zerothOrder(let s): return s.stateBytes(arenaCount: count)
        case .firstOrder(let s): return s.stateArenas * count * MemoryLayout<Float>.size
        }
    }
}
