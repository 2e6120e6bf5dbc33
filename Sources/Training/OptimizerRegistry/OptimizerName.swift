import Foundation

extension TrainingConfig {
    /// How a step moves the weights: the name of an optimizer of `OptimizerRegistry` (run.json's
    /// `optimizer`, `--optimizer`). A name rather than an enum, so that adding an optimizer is one
    /// line in the registry: the names below are those the code and tests refer to directly.
    public struct Optimizer: RawRepresentable, Hashable, Codable, Sendable, CaseIterable, CustomStringConvertible {
        public let rawValue: String

        /// nil for a name no optimizer of the registry has.
        public init?(rawValue: String) {
            guard OptimizerRegistry.names.contains(rawValue) else { return nil }
            self.rawValue = rawValue
        }

        /// A name the registry is built from (its specs' `name`).
        init(registering name: String) { rawValue = name }

        public static let mezo = Optimizer(registering: "mezo")
        public static let zoSign = Optimizer(registering: "zo-sign")
        public static let zoMomentum = Optimizer(registering: "zo-momentum")
        public static let zoAdam = Optimizer(registering: "zo-adam")
        public static let zoCons = Optimizer(registering: "zo-cons")
        public static let fzoo = Optimizer(registering: "fzoo")
        public static let hizoo = Optimizer(registering: "hizoo")
        public static let lozo = Optimizer(registering: "lozo")
        public static let sparseMezo = Optimizer(registering: "sparse-mezo")
        public static let sgd = Optimizer(registering: "sgd")
        public static let adamw = Optimizer(registering: "adamw")

        /// Every optimizer, in the registry's order (zeroth-order first).
        public static var allCases: [Optimizer] { OptimizerRegistry.names.map(Optimizer.init(registering:)) }

        /// Its spec: zeroth-order or first-order (backprop).
        public var family: OptimizerFamily { OptimizerRegistry.family(of: self) }

        /// Learning rate when --lr is not given (the registry's, one place).
        public var defaultLR: Float {
            switch family {
            case .zerothOrder(let spec): return spec.defaultLR
            case .firstOrder(let spec): return spec.defaultLR
            }
        }

        /// The lr a new run of `steps` planned steps takes when --lr is not given (nil: a time
        /// budget alone bounds it): the spec's `lrByLength` where one was measured, else `defaultLR`.
        public func defaultLR(steps: Int?) -> Float { zerothOrder?.lrByLength?.lr(steps: steps) ?? defaultLR }

        /// The default lr in words, for help: a number, or the rule by the run's length.
        public var defaultLRText: String {
            zerothOrder?.defaultLRText ?? "\(defaultLR)"
        }

        /// SGD and AdamW: gradients by backpropagation.
        public var usesBackprop: Bool { if case .firstOrder = family { return true } else { return false } }

        /// The zeroth-order spec, nil for a backprop optimizer.
        public var zerothOrder: ZerothOrderSpec? { if case .zerothOrder(let s) = family { return s } else { return nil } }

        public var description: String { rawValue }

        public init(from decoder: Decoder) throws {
            let name = try decoder.singleValueContainer().decode(String.self)
            guard let known = Optimizer(rawValue: name) else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: decoder.codingPath,
                    debugDescription: "unknown optimizer \"\(name)\" (\(OptimizerRegistry.names.joined(separator: ", ")))"))
            }
            self = known
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(rawValue)
        }
    }
}
