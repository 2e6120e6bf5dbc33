import Tensors

/// Prompts, each followed by several candidate continuations, packed so that every prompt runs
/// through the model once (not once per candidate). Rows hold, for each prompt in turn, the
/// prompt's tokens and then each continuation's tokens:
///
///     [prompt 0][cont 0.0][cont 0.1] [prompt 1][cont 1.0] …
///
/// A continuation's queries must see its prompt's keys and its own, but not its siblings'. The
/// attention kernel reads one contiguous run of keys per span, so before attention each layer
/// copies keys and values into a gathered buffer, one block per continuation: the prompt's rows,
/// then the continuation's rows (`gatherRows`). A prompt's own queries read the first block of
/// their prompt (causal: they never see past their own position). The copies are
/// (prompt + continuation) × kvHeads·headDim floats per layer, a small fraction of a block's work.
public struct ContinuationBatch: Sendable {
    /// Token ids of every row.   (N)
    public let tokens: [Int32]
    /// Position of each row in its own sequence (a continuation continues its prompt's positions).   (N)
    public let positions: [Int]
    /// Source row of each gathered key/value row.   (G)
    public let gatherRows: [Int]
    /// Attention spans: queries in the packed rows, keys in the gathered rows.
    public let spans: [AttentionSpan]
    /// Row of each prompt's last token (its hidden state predicts every continuation's first token).   (P)
    public let promptLastRows: [Int]
    /// Row of each continuation's first token, per prompt.   (P)(K_p)
    public let continuationStarts: [[Int]]
    /// The continuations themselves, per prompt.
    public let continuations: [[[Int32]]]

    public var tokenCount: Int { tokens.count }

    /// One continuation token read at a packed row: its log-probability is log P(token | row).
    public typealias TokenRead = (prompt: Int, continuation: Int, token: Int32)

    /// Every packed row whose next-token distribution a continuation's log-probability needs, and
    /// the tokens read from it: a prompt's last row gives every continuation's first token, row
    /// i − 1 of a continuation its token i. Scoring (forward) and training (backward) read the same.
    ///   rows: (R) packed rows; reads: (R) lists of reads of that row
    public var tokenReads: (rows: [Int], reads: [[TokenRead]]) {
        var rows: [Int] = []
        var reads: [[TokenRead]] = []
        for (p, conts) in continuations.enumerated() {
            rows.append(promptLastRows[p])
            reads.append(conts.enumerated().map { (p, $0.offset, $0.element[0]) })
            for (k, cont) in conts.enumerated() where cont.count > 1 {
                for i in 1..<cont.count {
                    rows.append(continuationStarts[p][k] + i - 1)
                    reads.append([(p, k, cont[i])])
                }
            }
        }
        return (rows, reads)
    }

    /// Rows that a batch of these prompts and continuations takes (for sizing workspaces).
    public static func rowCount(prompt: [Int32], continuations: [[Int32]]) -> Int {
        prompt.count + continuations.reduce(0) { $0 + $1.count }
    }

    /// - Parameters: prompts and, per prompt, at least one non-empty continuation.
    public init(prompts: [[Int32]], continuations: [[[Int32]]]) {
        precondition(prompts.count == continuations.count, "one list of continuations per prompt")
        var tokens: [Int32] = [], positions: [Int] = [], gather: [Int] = [], spans: [AttentionSpan] = []
        var lastRows: [Int] = [], starts: [[Int]] = []
        for (prompt, conts) in zip(prompts, continuations) {
            precondition(!prompt.isEmpty && !conts.isEmpty && conts.allSatisfy { !$0.isEmpty },
                         "every prompt needs tokens and at least one non-empty continuation")
            let promptRow = tokens.count, L = prompt.count
            tokens += prompt
            positions += Array(0..<L)
            lastRows.append(promptRow + L - 1)
            // The prompt's queries use the first gathered block (its first L rows are the prompt).
            spans.append(AttentionSpan(queryRow: promptRow, queryCount: L, firstQueryPosition: 0,
                                       keyRow: gather.count, keyCount: L))
            var mine: [Int] = []
            for cont in conts {
                let row = tokens.count, m = cont.count
                mine.append(row)
                tokens += cont
                positions += Array(L..<(L + m))
                let block = gather.count
                gather += Array(promptRow..<(promptRow + L)) + Array(row..<(row + m))
                spans.append(AttentionSpan(queryRow: row, queryCount: m, firstQueryPosition: L,
                                           keyRow: block, keyCount: L + m))
            }
            starts.append(mine)
        }
        self.tokens = tokens
        self.positions = positions
        self.gatherRows = gather
        self.spans = spans
        self.promptLastRows = lastRows
        self.continuationStarts = starts
        self.continuations = continuations
    }
}

/// Per-layer scratch for `ContinuationBatch`'s gathered keys and values (tagged `activations`).
public final class GatheredKeyValues {
    public let capacity: Int
    let keys: UnsafeMutablePointer<Float>     // (capacity, Hkv·D)
    let values: UnsafeMutablePointer<Float>   // (capacity, Hkv·D)
    private let buffer: TaggedBuffer

    public init(config c: DecoderConfig, capacity: Int) {
        self.capacity = capacity
        let width = c.kvHeads * c.headDim
        let views: [UnsafeMutablePointer<Float>]
        (buffer, views) = TaggedBuffer.carved([capacity * width, capacity * width], tag: .activations)
        keys = views[0]
        values = views[1]
    }

    public var byteCount: Int { buffer.byteCount }
}
