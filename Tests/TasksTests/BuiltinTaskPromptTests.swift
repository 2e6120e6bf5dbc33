import Foundation
import XCTest

@testable import Tasks

/// Every built-in task renders its five fixture rows (Tests/Fixtures/tasks/<task>.jsonl) into
/// exactly the prompt and label continuations that princeton-nlp/MeZO's own template code produced
/// for them (<task>.expected.json, written by tools/fixtures/make_task_fixtures.py).
final class BuiltinTaskPromptTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tasks").path

    struct Expected: Decodable {
        let prompt: String
        let candidates: [String]?
        let label: Int?
        let target: String?
    }

    func testBuiltinsAreTheMeZOTasks() {
        XCTAssertEqual(Set(BuiltinTasks.names),
                       ["sst2", "sst5", "mr", "cr", "mpqa", "subj", "trec", "rte", "cb", "boolq", "wic", "wsc", "copa",
                        "multirc", "squad", "drop"])
    }

    func testEveryBuiltinReproducesMeZOsPromptText() throws {
        for name in BuiltinTasks.names {
            let (spec, origin) = try BuiltinTasks.resolve(name)
            XCTAssertTrue(spec.source?.contains("princeton-nlp/MeZO") == true, "\(name): the task file must cite MeZO's file")
            let prompt = try TaskPrompt(spec: spec, origin: origin)
            let examples = try TaskExamples.load(path: "\(Self.fixtures)/\(name).jsonl", spec: spec)
            let expected = try JSONDecoder().decode([Expected].self, from: Data(contentsOf: URL(fileURLWithPath: "\(Self.fixtures)/\(name).expected.json")))
            XCTAssertEqual(examples.count, 5, name)
            XCTAssertEqual(expected.count, 5, name)
            for (row, (example, want)) in zip(examples, expected).enumerated() {
                XCTAssertEqual(try prompt.text(for: example), want.prompt, "\(name) row \(row + 1): prompt")
                switch spec.objective {
                case .classify:
                    XCTAssertEqual(try prompt.candidateTexts(for: example).map { $0[0] }, want.candidates, "\(name) row \(row + 1): label words")
                    XCTAssertEqual(example.label, want.label, "\(name) row \(row + 1): gold label")
                case .complete:
                    // MeZO's gold continuation is " " + the first answer + "\n" (its stop string).
                    XCTAssertEqual(" " + example.targets[0] + "\n", want.target, "\(name) row \(row + 1): target")
                case .chat:
                    XCTFail("\(name): no built-in task is a chat task")
                }
            }
        }
    }
}
