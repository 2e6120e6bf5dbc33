// The BPE model of a byte-level tokenizer.json: a word's UTF-8 bytes start as one piece each (the
// byte-level alphabet's), then the adjacent pair with the lowest merge rank is merged, again and
// again, until no adjacent pair has a merge. Ties go to the leftmost pair, as in the tokenizers
// library (its heap orders by rank, then position), which makes the result the same as GPT-2's
// "merge every occurrence of the best pair" for every vocabulary trained by either.
//
// Words repeat (SST-2 dev: 17,000 words, 4,000 distinct), so each word's ids are cached.

import Foundation

/// Merges the bytes of one pre-tokenized word into vocabulary ids.
final class BytePairEncoding: @unchecked Sendable {
    // @unchecked Sendable: everything is immutable after init except `cache`, guarded by `cacheLock`.

    /// What merging a pair gives: its rank (lower merges first) and the merged piece's id.
    struct Merge { let rank: Int32; let id: Int32 }

    let vocabulary: [String: Int32]
    /// The id of each byte's alphabet piece; nil when the vocabulary lacks it. (256)
    private let byteIDs: [Int32?]
    /// (left id << 32 | right id) → merge.
    private let merges: [UInt64: Merge]
    /// Llama 3: a word that is itself in the vocabulary is taken whole, before any merge.
    let ignoreMerges: Bool
    let unknownID: Int32?
    let fuseUnknown: Bool

    private var cache: [String: [Int32]] = [:]
    private let cacheLock = NSLock()
    /// Past this many distinct words the cache stops growing (a whole dataset's words fit).
    static let cacheCapacity = 200_000

    /// `merges` in rank order (rank = index). Throws `BPEModelError` for a merge whose parts or
    /// result are not in the vocabulary.
    init(vocabulary: [String: Int32], merges mergeList: [(String, String)], ignoreMerges: Bool,
         unknownID: Int32?, fuseUnknown: Bool) throws {
        self.vocabulary = vocabulary
        self.ignoreMerges = ignoreMerges
        self.unknownID = unknownID
        self.fuseUnknown = fuseUnknown
        byteIDs = ByteLevelAlphabet.scalarForByte.map { vocabulary[String($0)] }
        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, (left, right)) in mergeList.enumerated() {
            guard let l = vocabulary[left], let r = vocabulary[right] else {
                throw BPEModelError(message: "merge #\(rank) \"\(left) \(right)\" uses a piece that is not in the vocabulary")
            }
            guard let id = vocabulary[left + right] else {
                throw BPEModelError(message: "merge #\(rank) \"\(left) \(right)\" makes \"\(left + right)\", which is not in the vocabulary")
            }
            let key = Self.key(l, r)
            // A repeated pair keeps its first (best) rank, as the tokenizers library's map does.
            if merges[key] == nil { merges[key] = Merge(rank: Int32(rank), id: id) }
        }
        self.merges = merges
    }

    @inline(__always) private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Appends the ids of `word` (plain text; its UTF-8 bytes are the byte-level pieces) to `out`.
    func encode(word: Substring, into out: inout [Int32]) {
        let key = String(word)   // words are short: ≤ 15 UTF-8 bytes stay inline, no allocation
        cacheLock.lock()
        let cached = cache[key]
        cacheLock.unlock()
        if let cached { out.append(contentsOf: cached); return }
        let ids = merge(key)
        cacheLock.lock()
        if cache.count < Self.cacheCapacity { cache[key] = ids }
        cacheLock.unlock()
        out.append(contentsOf: ids)
    }

    /// The BPE of one word, uncached.
    func merge(_ word: String) -> [Int32] {
        if ignoreMerges, let whole = vocabulary[ByteLevelAlphabet.encode(word.utf8)] { return [whole] }
        var symbols: [Int32] = []            // (n) current pieces, left to right
        symbols.reserveCapacity(word.utf8.count)
        for byte in word.utf8 {
            if let id = byteIDs[Int(byte)] {
                symbols.append(id)
            } else if let unknown = unknownID {
                // A vocabulary without the full alphabet (not one the families ship): unknown piece,
                // consecutive ones fused when `fuse_unk` says so; with no unknown piece the byte is dropped.
                if !(fuseUnknown && symbols.last == unknown) { symbols.append(unknown) }
            }
        }
        if symbols.count < 2 { return symbols }
        // pairRanks[i]: rank of merging symbols[i] and symbols[i+1] (Int32.max: no merge). (n-1)
        var pairRanks = [Int32](repeating: .max, count: symbols.count - 1)
        var pairIDs = [Int32](repeating: -1, count: symbols.count - 1)
        func look(_ i: Int) {
            if let m = merges[Self.key(symbols[i], symbols[i + 1])] {
                pairRanks[i] = m.rank; pairIDs[i] = m.id
            } else {
                pairRanks[i] = .max; pairIDs[i] = -1
            }
        }
        for i in 0..<(symbols.count - 1) { look(i) }
        while symbols.count > 1 {
            var best = 0
            for i in 1..<pairRanks.count where pairRanks[i] < pairRanks[best] { best = i }   // leftmost on ties
            guard pairRanks[best] != .max else { break }
            symbols[best] = pairIDs[best]
            symbols.remove(at: best + 1)
            pairRanks.remove(at: best)
            pairIDs.remove(at: best)
            // Only the pairs touching the new piece changed.
            if best > 0 { look(best - 1) }
            if best < symbols.count - 1 { look(best) }
        }
        return symbols
    }
}

/// A BPE model that contradicts itself; the loader adds the file name.
struct BPEModelError: Error { let message: String }
