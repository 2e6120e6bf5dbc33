import Foundation

/// Classification metrics over label indices (gold -1 = unlabelled, skipped).
public struct ClassificationReport: Sendable {
    /// confusion[gold][predicted]
    public let confusion: [[Int]]
    public let labelNames: [String]

    public init(gold: [Int], predicted: [Int], labelNames: [String]) {
        let n = labelNames.count
        var m = [[Int]](repeating: [Int](repeating: 0, count: n), count: n)
        for (g, p) in zip(gold, predicted) where g >= 0 && g < n && p >= 0 && p < n { m[g][p] += 1 }
        confusion = m
        self.labelNames = labelNames
    }

    public var total: Int { confusion.reduce(0) { $0 + $1.reduce(0, +) } }
    public var accuracy: Double {
        total == 0 ? 0 : Double(confusion.indices.reduce(0) { $0 + confusion[$1][$1] }) / Double(total)
    }

    /// Precision, recall and F1 of class `c` (0 when undefined, as scikit-learn's zero_division=0).
    public func scores(of c: Int) -> (precision: Double, recall: Double, f1: Double, support: Int) {
        let tp = Double(confusion[c][c])
        let predicted = Double(confusion.reduce(0) { $0 + $1[c] })
        let support = confusion[c].reduce(0, +)
        let precision = predicted == 0 ? 0 : tp / predicted
        let recall = support == 0 ? 0 : tp / Double(support)
        let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
        return (precision, recall, f1, support)
    }

    /// Unweighted mean of the classes' F1.
    public var macroF1: Double {
        labelNames.isEmpty ? 0 : labelNames.indices.reduce(0) { $0 + scores(of: $1).f1 } / Double(labelNames.count)
    }

    public func value(of metric: TaskSpec.Metric) -> Double {
        metric == .macroF1 ? macroF1 : accuracy
    }

    /// {"per_class": {label: {precision, recall, f1, support}}, "confusion_matrix": {"labels", "rows"}}
    public var json: [String: Any] {
        var perClass: [String: Any] = [:]
        for (c, name) in labelNames.enumerated() {
            let s = scores(of: c)
            perClass[name] = ["precision": s.precision, "recall": s.recall, "f1": s.f1, "support": s.support]
        }
        return ["per_class": perClass, "macro_f1": macroF1,
                "confusion_matrix": ["labels": labelNames, "rows_gold_columns_predicted": confusion]]
    }
}

/// SQuAD's answer metrics (the official evaluate-v1.1 script, as MeZO's large_models/metrics.py).
public enum AnswerMetrics {
    /// Lower case, punctuation removed, articles (a, an, the) removed, white space collapsed.
    public static func normalize(_ s: String) -> String {
        let lower = s.lowercased()
        let punctuation = Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
        let noPunct = String(lower.filter { !punctuation.contains($0) })
        let words = noPunct.split(whereSeparator: { $0.isWhitespace }).filter { !["a", "an", "the"].contains($0) }
        return words.joined(separator: " ")
    }

    /// 1 when the prediction equals any gold answer after normalisation.
    public static func exactMatch(_ prediction: String, gold: [String]) -> Double {
        gold.contains { normalize($0) == normalize(prediction) } ? 1 : 0
    }

    /// Best token-level F1 against the gold answers.
    public static func f1(_ prediction: String, gold: [String]) -> Double {
        let p = normalize(prediction).split(separator: " ").map(String.init)
        return gold.map { answer -> Double in
            let g = normalize(answer).split(separator: " ").map(String.init)
            var counts: [String: Int] = [:]
            for w in g { counts[w, default: 0] += 1 }
            var same = 0
            for w in p where (counts[w] ?? 0) > 0 { counts[w]! -= 1; same += 1 }
            guard same > 0 else { return 0 }
            let precision = Double(same) / Double(p.count), recall = Double(same) / Double(g.count)
            return 2 * precision * recall / (precision + recall)
        }.max() ?? 0
    }
}
