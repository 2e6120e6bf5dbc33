import Foundation
import Models
import Optimizers
import Tensors
import Tokenizers
import TestSupport
import XCTest

/// Batched greedy decoding (one KV-cache block per sequence, every unfinished sequence one token per
/// pass) writes exactly what one-at-a-time decoding writes.
final class BatchedGenerationTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    /// Tiny models: prompts of unequal lengths (past the sliding window), a stop id that ends some
    /// sequences early, groups split by the token budget.
    func testBatchedEqualsOneAtATimeOnTinyModels() throws {
        var stoppedEarly = 0
        for name in ["tiny-gemma3", "tiny-llama", "tiny-qwen3"] {
            let model = try TinyFixture(name).model
            let V = Int32(model.config.vocabSize)
            var rng = SplitMix64(seed: 11)
            let prompts = (0..<9).map { i in (0..<(1 + 2 * i)).map { _ in Int32(rng.next() % UInt64(V)) } }
            let stop: Set<Int32> = [3, 17 % V]
            let single = prompts.map { model.generateGreedy(prompt: $0, maxNewTokens: 12, stop: stop) }
            let batched = model.generateGreedy(prompts: prompts, maxNewTokens: 12, stop: stop, maxBatchTokens: 30)
            XCTAssertEqual(batched, single, name)
            stoppedEarly += single.filter { $0.count < 12 }.count
            print("\(name): generated lengths \(single.map { $0.count })")
        }
        XCTAssertGreaterThan(stoppedEarly, 1, "some sequences should meet a stop id")
    }

    /// Gemma-3-270M, 12 SST-2 dev reviews as the completion prompt "Review: …\nSentiment:", 6 new
    /// tokens: the same tokens, and batched is faster. The machine may be shared, so the claim is a
    /// ratio measured in this run, each path timed twice interleaved (one-at-a-time, batched,
    /// one-at-a-time, batched) and its best time kept, so a burst of load in one round does not
    /// decide it. Batched decoding makes one pass per token for all 12 prompts instead of 12: it
    /// must be at least 2× faster (9.8× measured on the 2-core project machine, debug build, while
    /// other builds ran), a margin a contended machine keeps.
    func testBatchedEqualsOneAtATimeOnGemmaAndIsFaster() throws {
        let dir = try Repo.requireGemma()
        let sst2 = try Repo.requireSST2()
        let tokenizer = try TokenizerLoader.load(modelDirectory: dir)
        let model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 512)
        let dev = try String(contentsOfFile: sst2 + "/dev.tsv", encoding: .utf8).split(whereSeparator: \.isNewline).dropFirst().prefix(12)
        let prompts = try dev.map { line -> [Int32] in
            let sentence = line.split(separator: "\t").first { !$0.allSatisfy(\.isNumber) }!.trimmingCharacters(in: .whitespaces)
            return [tokenizer.bosID!] + (try tokenizer.encode("Review: \(sentence)\nSentiment:"))
        }
        let stop: Set<Int32> = [tokenizer.eosID!]
        var single: [[Int32]] = [], batched: [[Int32]] = []
        var singleSeconds = Double.infinity, batchedSeconds = Double.infinity
        for _ in 0..<2 {
            var start = Date()
            single = prompts.map { model.generateGreedy(prompt: $0, maxNewTokens: 6, stop: stop) }
            singleSeconds = min(singleSeconds, Date().timeIntervalSince(start))
            start = Date()
            batched = model.generateGreedy(prompts: prompts, maxNewTokens: 6, stop: stop)
            batchedSeconds = min(batchedSeconds, Date().timeIntervalSince(start))
            XCTAssertEqual(batched, single)
        }
        let ratio = singleSeconds / batchedSeconds
        print(String(format: "Gemma-3-270M greedy, 12 prompts x 6 tokens, best of 2: one at a time %.2f s, batched %.2f s (%.1fx)",
                     singleSeconds, batchedSeconds, ratio))
        print("first completions: " + (try single.prefix(3).map { try tokenizer.decode($0) }).joined(separator: " | "))
        XCTAssertGreaterThan(ratio, 2, "batched generation should be clearly faster than one prompt at a time")
    }
}
