// `zofinetune tokenize --model DIR --file FILE.tsv [--threads N] [--json]`: how long the folder's
// tokenizer takes over a whole dataset (tools/bench/bench_bpe_tokenizer.py compares it with the
// tokenizers library in the same run).

import Foundation
import Tasks
import Tokenizers

extension TokenizeCommand {
    /// Loads the tokenizer, reads the text column of `path`, and encodes every text twice: the first
    /// pass starts with an empty word cache (what a run pays once), the second reuses it.
    func timeFile(_ path: String) throws {
        let clock = ContinuousClock()
        let loadStart = clock.now
        let tokenizer = try TokenizerLoader.load(modelDirectory: model)
        let loadSeconds = (clock.now - loadStart).seconds
        let table = try TSV.read(path: path)
        guard let column = table.column(named: ["sentence", "content", "text"]) else {
            throw InputError("\(path): no sentence, content or text column in the header")
        }
        let texts = table.rows.map { $0.fields[column] }
        let firstStart = clock.now
        let ids = try tokenizer.encodeBatch(texts, threads: threads)
        let firstSeconds = (clock.now - firstStart).seconds
        let warmStart = clock.now
        _ = try tokenizer.encodeBatch(texts, threads: threads)
        let warmSeconds = (clock.now - warmStart).seconds
        let tokens = ids.reduce(0) { $0 + $1.count }
        if json {
            struct Output: Encodable {
                let file: String, tokenizer: String, sentences: Int, tokens: Int, threads: Int
                let load_seconds: Double, first_pass_seconds: Double, warm_pass_seconds: Double
            }
            let output = Output(file: path, tokenizer: String(describing: type(of: tokenizer)), sentences: texts.count,
                                tokens: tokens, threads: threads, load_seconds: loadSeconds,
                                first_pass_seconds: firstSeconds, warm_pass_seconds: warmSeconds)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(output), as: UTF8.self))
        } else {
            print("\(texts.count) texts, \(tokens) tokens (\(type(of: tokenizer)), \(threads) thread\(threads == 1 ? "" : "s")): "
                  + String(format: "load %.3f s, first pass %.4f s, warm pass %.4f s", loadSeconds, firstSeconds, warmSeconds))
        }
    }
}

extension Duration {
    fileprivate var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
