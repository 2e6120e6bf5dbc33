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
    /// tokens: the same tokens, and the time of both (the machine may be shared: a ratio, not a rate).
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
        var start = Date()
        let single = prompts.map { model.generateGreedy(prompt: $0, maxNewTokens: 6, stop: stop) }
        let singleSeconds = Date().timeIntervalSince(start)
        start = Date()
        let batched = model.generateGreedy(prompts: prompts, maxNewTokens: 6, stop: stop)
        let batchedSeconds = Date().timeIntervalSince(start)
        XCTAssertEqual(batched, single)
        print(String(format: "Gemma-3-270M greedy, 12 prompts x 6 tokens: one at a time %.2f s, batched %.2f s (%.1fx)",
                     singleSeconds, batchedSeconds, singleSeconds / batchedSeconds))
        print("first completions: " + (try single.prefix(3).map { try tokenizer.decode($0) }).joined(separator: " | "))
    }
}
