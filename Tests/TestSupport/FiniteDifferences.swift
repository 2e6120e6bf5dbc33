import Foundation
import XCTest

/// A backward kernel against finite differences of its forward twin, by the method of
/// TensorsTests/BackwardKernelTests: for a random cotangent u, f(θ) = ⟨u, forward(θ)⟩ in Double;
/// central differences at h and h/2 (h = 2e-2), Richardson-extrapolated; tolerance
/// |fd − g| ≤ 6e-4 + 3e-3·|g|.
public enum FiniteDifferences {
    /// Checks `gradient` of f at every coordinate of `params`; returns the worst |fd − g|.
    @discardableResult
    public static func check(_ label: String, params: inout [Float], gradient: [Float],
                             file: StaticString = #filePath, line: UInt = #line,
                             f: ([Float]) -> Double) -> Double {
        let h: Float = 2e-2
        var worst = 0.0
        for i in 0..<params.count {
            let original = params[i]
            func central(_ step: Float) -> Double {
                params[i] = original + step
                let plus = f(params)
                params[i] = original - step
                let minus = f(params)
                params[i] = original
                return (plus - minus) / (Double(original + step) - Double(original - step))
            }
            let fd = (4 * central(h / 2) - central(h)) / 3
            let g = Double(gradient[i])
            worst = max(worst, abs(fd - g))
            XCTAssertLessThanOrEqual(abs(fd - g), 6e-4 + 3e-3 * abs(g), "\(label)[\(i)]: fd \(fd) vs \(g)", file: file, line: line)
        }
        print("\(label): \(params.count) coordinates, max |fd − g| = \(worst)")
        return worst
    }

    /// ⟨u, y⟩ in Double.
    public static func inner(_ u: [Float], _ y: [Float]) -> Double {
        zip(u, y).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
}
