import Foundation
import Tasks

/// The task a run trained on, kept in its run.json so that `--resume` and `eval --run` pose the
/// same task on the same data without `--task` / `--data` again (and refuse a different task).
public struct RunTask: Codable, Sendable, Equatable {
    /// The task as trained: its file or built-in, with the command line's overrides applied.
    public var spec: TaskSpec
    /// What named it: a built-in's name or a task file's path (for messages).
    public var origin: String
    /// The data files read, by split ("train", "dev", "test"), as absolute paths.
    public var data: [String: String]

    public init(spec: TaskSpec, origin: String, data: [String: String]) {
        (self.spec, self.origin, self.data) = (spec, origin, data)
    }

    enum CodingKeys: String, CodingKey {
        case spec, origin, data
        case labelOrder = "label_order"
    }

    /// The labels' order is the label index: kept as a list beside the spec, whose labels are a
    /// JSON object (unordered once decoded).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(spec, forKey: .spec)
        try c.encode(spec.labels.map(\.value), forKey: .labelOrder)
        try c.encode(origin, forKey: .origin)
        try c.encode(data, forKey: .data)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        spec = try c.decode(TaskSpec.self, forKey: .spec)
        let order = try c.decode([String].self, forKey: .labelOrder)
        let byValue = Dictionary(spec.labels.map { ($0.value, $0) }, uniquingKeysWith: { a, _ in a })
        guard order.count == spec.labels.count, order.allSatisfy({ byValue[$0] != nil }) else {
            throw DecodingError.dataCorruptedError(forKey: .labelOrder, in: c, debugDescription: "label_order does not list the spec's labels")
        }
        spec.labels = order.map { byValue[$0]! }
        origin = try c.decode(String.self, forKey: .origin)
        data = try c.decode([String: String].self, forKey: .data)
    }
}
