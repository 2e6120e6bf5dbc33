/// Sequences laid back to back without padding: the matmuls see only real tokens, however unequal
/// the lengths. Row r of every activation buffer belongs to token r of this list.
public struct PackedBatch: Sendable {
    /// Token ids of all sequences, concatenated.   (N)
    public let tokens: [Int32]
    /// Row of each sequence's first token.   (S)
    public let starts: [Int]
    /// Tokens in each sequence.   (S)
    public let lengths: [Int]

    public var tokenCount: Int { tokens.count }
    public var sequenceCount: Int { starts.count }

    public init(sequences: [[Int32]]) {
        precondition(sequences.allSatisfy { !$0.isEmpty }, "every sequence needs at least one token")
        var starts: [Int] = []
        var start = 0
        for s in sequences {
            starts.append(start)
            start += s.count
        }
        self.tokens = sequences.flatMap { $0 }
        self.starts = starts
        self.lengths = sequences.map(\.count)
    }

    /// From a right-padded batch as transformers takes it: `ids` (B, T) with `mask` (B, T) holding
    /// 1 for real tokens, which must come first in each row.
    public init(paddedIDs ids: [[Int32]], mask: [[Int32]]) throws {
        guard ids.count == mask.count else { throw ModelError("ids and attention mask differ in batch size") }
        var sequences: [[Int32]] = []
        for (b, (row, m)) in zip(ids, mask).enumerated() {
            guard row.count == m.count else { throw ModelError("row \(b): ids and mask differ in length") }
            let n = m.prefix { $0 != 0 }.count
            guard n > 0, m.dropFirst(n).allSatisfy({ $0 == 0 }) else {
                throw ModelError("row \(b): the attention mask must be 1s then 0s (right padding)")
            }
            sequences.append(Array(row.prefix(n)))
        }
        self.init(sequences: sequences)
    }

    /// Row of each sequence's last token.   (S)
    public var lastRows: [Int] { zip(starts, lengths).map { $0 + $1 - 1 } }
}
