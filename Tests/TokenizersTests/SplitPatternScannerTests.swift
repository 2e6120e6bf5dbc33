// The hand-written matchers of the GPT-2 / Llama 3 / Qwen2 split patterns against ICU running the
// same patterns (NSRegularExpression, with \s rewritten to Oniguruma's meaning), on random strings
// over an alphabet chosen to hit every alternative and every character class edge: contractions in
// both cases (and ſ), letters of every letter category, numbers of every number category, each kind
// of white space (\v and U+0085 included), line breaks, combining marks, emoji and ZWJ.

import Foundation
import XCTest

@testable import Tokenizers

final class SplitPatternScannerTests: XCTestCase {
    static let alphabet: [String] = [
        "a", "b", "Z", "s", "S", "t", "T", "r", "R", "e", "E", "v", "m", "M", "l", "L", "d", "D", "ſ", "'", "'",
        "0", "7", "٣", "Ⅻ", "½", "ǅ", "ʰ", "中", "é", "\u{301}", "😀", "\u{200D}", "!", ".", ",", "-", "_",
        " ", " ", " ", "\t", "\n", "\n", "\r", "\u{0B}", "\u{0C}", "\u{85}", "\u{A0}", "\u{3000}", "\u{2028}",
    ]

    /// SplitMix64: a fixed sequence, so a failure reproduces.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func testScannersAgreeWithICUOnRandomText() throws {
        let patterns = [("gpt2", gpt2SplitPattern), ("llama3", SplitPatternScanner.llama3Pattern),
                        ("qwen2", SplitPatternScanner.qwen2Pattern)]
        var generator = Generator(state: 20_261_130)
        let texts: [String] = (0..<4000).map { _ in
            let length = Int.random(in: 0...24, using: &generator)
            return (0..<length).map { _ in Self.alphabet.randomElement(using: &generator)! }.joined()
        }
        for (name, pattern) in patterns {
            let scanned = try RegexSplitter(pattern: pattern)
            let icu = try RegexSplitter(pattern: pattern, useScanner: false)
            XCTAssertNotNil(scanned.scanner, "\(name): pattern not recognised")
            XCTAssertNil(icu.scanner)
            var mismatches = 0
            for text in texts {
                let ours = scanned.split(text).map { Array($0.unicodeScalars) }
                let reference = icu.split(text).map { Array($0.unicodeScalars) }
                if ours != reference {
                    mismatches += 1
                    if mismatches <= 5 {
                        XCTFail("\(name) \(text.debugDescription): scanner \(ours.map { String(String.UnicodeScalarView($0)) }) vs ICU \(reference.map { String(String.UnicodeScalarView($0)) })")
                    }
                }
            }
            XCTAssertEqual(mismatches, 0, "\(name): texts split differently from ICU")
        }
    }

    /// A pattern the scanners do not know still runs (through ICU).
    func testOtherPatternsUseICU() throws {
        let splitter = try RegexSplitter(pattern: #"\p{N}+|[^\p{N}]+"#)
        XCTAssertNil(splitter.scanner)
        XCTAssertEqual(splitter.split("ab12cd3").map(String.init), ["ab", "12", "cd", "3"])
    }
}
