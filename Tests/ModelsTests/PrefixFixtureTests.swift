import Foundation
import Models
import Tensors
import Weights
import TestSupport
import XCTest

/// Prefix tuning's forward against peft 0.21.2 + transformers 5.23 on the tiny fixtures
/// (tools/reference/reference_prefix.py fixtures → Tests/Fixtures/<name>/prefix_reference.safetensors):
/// 3 prefix tokens with random `prompt_embeddings`, the fixture's 3 right-padded sequences.
///
/// Tolerances as the prefix-free fixture tests (DecoderFixtureTests, EncoderFixtureTests): 1e-4
/// absolute on every real position's logits, 2e-5 on the encoder's hidden states; both sides are
/// fp32 and differ by summation order only. A prefix in the wrong place moves them by O(0.1):
/// positions not starting at n, a key rotated again, tiny-gemma3's window (4) applied to
/// relative instead of absolute positions, keys and values swapped, peft's column order misread.
final class PrefixFixtureTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testTinyGemma3PrefixLogits() throws { try compareDecoder("tiny-gemma3") }
    func testTinyLlamaPrefixLogits() throws { try compareDecoder("tiny-llama") }
    /// Per-head q/k norms: the prefix keys must not go through k-norm.
    func testTinyQwen3PrefixLogits() throws { try compareDecoder("tiny-qwen3") }

    /// Loads a fixture with a prefix attached and filled with the reference's `prompt_embeddings`.
    static func prefixed(_ name: String) throws -> (TinyFixture, SafeTensorsFile, KeyValuePrefix) {
        let fixture = try TinyFixture(name)
        let reference = try SafeTensorsFile(path: Repo.fixture(name) + "/prefix_reference.safetensors")
        let n = try reference.info(KeyValuePrefix.tensorName).shape[0]
        let prefix = try fixture.model.attachPrefix(tokens: n)
        try reference.read(KeyValuePrefix.tensorName, into: prefix.arena.buffer(prefix.arena.slots[0]),
                           expectedShape: prefix.arena.slots[0].shape)
        return (fixture, reference, prefix)
    }

    func compareDecoder(_ name: String, tolerance: Float = 1e-4) throws {
        let (fixture, reference, _) = try Self.prefixed(name)
        let (model, batch) = (fixture.model, fixture.batch)
        let (B, T, V) = (batch.sequenceCount, fixture.paddedLength, model.config.vocabSize)
        let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let logits = model.logits(hidden: model.forward(batch, workspace: ws), rows: batch.tokenCount)
        let expected = try reference.floats("logits")   // (B, T, V)
        var worst: Float = 0
        for s in 0..<B {
            for t in 0..<batch.lengths[s] {
                let got = (batch.starts[s] + t) * V, want = (s * T + t) * V
                for j in 0..<V { worst = max(worst, abs(logits[got + j] - expected[want + j])) }
            }
        }
        print("\(name) with a 3-token prefix: max |Δ logits| = \(worst) over \(batch.tokenCount) positions")
        XCTAssertLessThanOrEqual(worst, tolerance, "\(name): prefixed logits differ from peft's")

        // The last-token path (scoring, MeZO's losses) gives the same rows.
        let last = model.logits(hidden: model.forward(batch, workspace: ws, outputs: .lastTokenOfEachSequence), rows: B)
        var worstLast: Float = 0
        for s in 0..<B {
            let want = (s * T + batch.lengths[s] - 1) * V
            for j in 0..<V { worstLast = max(worstLast, abs(last[s * V + j] - expected[want + j])) }
        }
        XCTAssertLessThanOrEqual(worstLast, tolerance, "\(name): last-token path")

        // Generation's cache path: the prefix prefilled into the cache, then the prompt, then one token.
        let cache = KVCache(config: model.config, capacity: model.prefixTokens + batch.lengths[0])
        let first = Array(batch.tokens[0..<(batch.lengths[0] - 1)])
        _ = model.forward(PackedBatch(sequences: [first]), workspace: ws, outputs: .lastTokenOfEachSequence, cache: cache)
        let step = model.logits(hidden: model.forward(PackedBatch(sequences: [[batch.tokens[batch.lengths[0] - 1]]]),
                                                      workspace: ws, outputs: .lastTokenOfEachSequence, cache: cache), rows: 1)
        var worstCache: Float = 0
        for j in 0..<V { worstCache = max(worstCache, abs(step[j] - expected[(batch.lengths[0] - 1) * V + j])) }
        XCTAssertLessThanOrEqual(worstCache, tolerance, "\(name): KV-cache path")
        XCTAssertEqual(cache.length, model.prefixTokens + batch.lengths[0])
    }

    /// Prompts with several candidate continuations (each prompt run once, the prefix in front of
    /// every gathered block) give the log-probabilities of running prompt + continuation whole.
    func testContinuationBatchWithPrefixMatchesWholeSequences() throws {
        let (fixture, _, _) = try Self.prefixed("tiny-gemma3")
        let model = fixture.model
        let prompts: [[Int32]] = [[2, 9, 14, 30, 7], [2, 40, 41]]
        let continuations: [[[Int32]]] = [[[5], [6, 8, 9]], [[11, 12], [13]]]
        let batch = ContinuationBatch(prompts: prompts, continuations: continuations)
        let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let gathered = GatheredKeyValues(config: model.config, capacity: batch.gatherRows.count)
        let packed = model.continuationLogProbs(batch, workspace: ws, gathered: gathered)
        for (p, prompt) in prompts.enumerated() {
            let whole = model.continuationLogProbs(prompt: prompt, continuations: continuations[p])
            for (k, value) in whole.enumerated() {
                XCTAssertEqual(packed[p][k], value, accuracy: 1e-4, "prompt \(p) continuation \(k)")
            }
        }
    }

    /// MeZO's initialisation by real activations: the keys/values transformers caches for the tokens.
    func testDecoderInitialisationFromRealActivations() throws {
        for name in ["tiny-gemma3", "tiny-llama", "tiny-qwen3"] {
            let (fixture, reference, prefix) = try Self.prefixed(name)
            fixture.model.initialisePrefixFromActivations(of: try reference.floats("init_tokens").map { Int32($0) })
            try assertEqual(prefix, try reference.floats("init_embeddings"), tolerance: 1e-5, name)
        }
    }

    func testEncoderPrefixHiddenStatesAndInitialisation() throws {
        let directory = Repo.fixture("tiny-bert-mlm")
        let model = try ModelLoader.loadEncoder(directory: directory)
        let reference = try SafeTensorsFile(path: directory + "/prefix_reference.safetensors")
        let slot = try reference.info(KeyValuePrefix.tensorName)
        let prefix = try model.attachPrefix(tokens: slot.shape[0])
        XCTAssertEqual(model.maxSequenceLength, model.config.maxSequenceLength - 3)
        model.initialisePrefixFromActivations(of: try reference.floats("init_tokens").map { Int32($0) })
        try assertEqual(prefix, try reference.floats("init_embeddings"), tolerance: 1e-5, "tiny-bert-mlm init")

        try reference.read(KeyValuePrefix.tensorName, into: prefix.arena.buffer(prefix.arena.slots[0]),
                           expectedShape: prefix.arena.slots[0].shape)
        let batch = try Self.paddedBatch(reference)
        let T = try reference.storedShape("input_ids")[1], C = model.config.hiddenSize
        let ws = EncoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let hidden = model.forward(batch, workspace: ws)
        let expected = try reference.floats("last_hidden")   // (B, T, C)
        var worst: Float = 0
        for b in 0..<batch.sequenceCount {
            for t in 0..<batch.lengths[b] {
                for c in 0..<C { worst = max(worst, abs(hidden[(batch.starts[b] + t) * C + c] - expected[(b * T + t) * C + c])) }
            }
        }
        print("tiny-bert-mlm with a 3-token prefix: max |Δ hidden| = \(worst)")
        XCTAssertLessThanOrEqual(worst, 2e-5, "tiny-bert-mlm: prefixed hidden states differ from peft's")
    }

    /// Bad sizes: no prefix, or one that leaves no position for a token.
    func testPrefixLengthErrors() throws {
        let model = try TinyFixture("tiny-gemma3").model   // 64 positions
        for n in [0, -2] {
            XCTAssertThrowsError(try model.attachPrefix(tokens: n)) { XCTAssertTrue("\($0)".contains("at least 1"), "\($0)") }
        }
        XCTAssertThrowsError(try model.attachPrefix(tokens: 64)) { XCTAssertTrue("\($0)".contains("64 positions"), "\($0)") }
        let encoder = try ModelLoader.loadEncoder(directory: Repo.fixture("tiny-bert-mlm"))   // 16 positions
        XCTAssertThrowsError(try encoder.attachPrefix(tokens: 16)) { XCTAssertTrue("\($0)".contains("fewer than 16"), "\($0)") }
    }

    static func paddedBatch(_ reference: SafeTensorsFile) throws -> PackedBatch {
        let shape = try reference.storedShape("input_ids")
        let (B, T) = (shape[0], shape[1])
        let ids = try reference.floats("input_ids").map { Int32($0) }
        let mask = try reference.floats("attention_mask").map { Int32($0) }
        return try PackedBatch(paddedIDs: (0..<B).map { Array(ids[($0 * T)..<($0 * T + T)]) },
                               mask: (0..<B).map { Array(mask[($0 * T)..<($0 * T + T)]) })
    }

    func assertEqual(_ prefix: KeyValuePrefix, _ want: [Float], tolerance: Float, _ label: String) throws {
        let got = prefix.arena.buffer(prefix.arena.slots[0])
        XCTAssertEqual(got.count, want.count, label)
        var worst: Float = 0
        for i in 0..<min(got.count, want.count) { worst = max(worst, abs(got[i] - want[i])) }
        XCTAssertLessThanOrEqual(worst, tolerance, "\(label): max |Δ| \(worst)")
    }
}
