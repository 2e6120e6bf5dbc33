import Foundation
import Optimizers

/// Test inputs drawn from the engine's SplitMix64, so every test target shares one generator.
extension SplitMix64 {
    /// Uniform in [-1, 1).
    public mutating func nextFloat() -> Float { Float(Int64(bitPattern: next()) >> 40) * 0x1p-23 }

    /// Uniform in (0, 1).
    public mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Float {
        Float((-2 * Foundation.log(uniform())).squareRoot() * Foundation.cos(2 * Double.pi * uniform()))
    }
}
