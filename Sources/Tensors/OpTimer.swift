import Dispatch

/// Optional wall-clock accounting of the forward pass by kind of work, for `zofinetune bench`.
/// Off by default; when off, `measure` is one branch.
public enum OpTimer {
    public enum Kind: String, CaseIterable, Sendable {
        case matmul, attention, norm, activation, rope, other
    }

    public nonisolated(unsafe) static var enabled = false
    nonisolated(unsafe) static var nanoseconds = [UInt64](repeating: 0, count: Kind.allCases.count)

    @inline(__always)
    public static func measure<T>(_ kind: Kind, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let index = Kind.allCases.firstIndex(of: kind)!
            nanoseconds[index] &+= DispatchTime.now().uptimeNanoseconds - start
        }
        return try body()
    }

    public static func reset() { nanoseconds = [UInt64](repeating: 0, count: Kind.allCases.count) }

    /// Seconds per kind since the last reset.
    public static var seconds: [Kind: Double] {
        Dictionary(uniqueKeysWithValues: Kind.allCases.enumerated().map { ($1, Double(nanoseconds[$0]) / 1e9) })
    }
}
