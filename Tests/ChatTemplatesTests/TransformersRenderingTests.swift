import ChatTemplates
import Foundation
import XCTest

/// Every case of Tests/Fixtures/chat-templates/cases.json (tools/fixtures/make_chat_template_cases.py):
/// the text transformers' Jinja2 environment renders, which ours must equal exactly. The small
/// templates test one feature each; the real chat templates of the folder (Qwen2.5, Qwen3,
/// SmolLM2, Gemma-3) run over seeded conversations with and without add_generation_prompt.
final class TransformersRenderingTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/chat-templates").standardized

    func loadCases() throws -> [TemplateDict] {
        let text = try String(contentsOf: Self.folder.appendingPathComponent("cases.json"), encoding: .utf8)
        guard case .list(let items) = try TemplateJSON.parse(text) else { throw XCTSkip("cases.json is not a list") }
        return items.compactMap { if case .dict(let d) = $0 { return d } else { return nil } }
    }

    func testEveryCaseRendersAsTransformersDoes() throws {
        let cases = try loadCases()
        XCTAssertGreaterThan(cases.count, 200)
        var templates: [String: ChatTemplate] = [:]
        var compared = 0, refused = 0
        for (i, c) in cases.enumerated() {
            let template: ChatTemplate
            if case .string(let file)? = c["file"] {
                if templates[file] == nil {
                    let source = try String(contentsOf: Self.folder.appendingPathComponent(file), encoding: .utf8)
                    templates[file] = try ChatTemplate(source: source, origin: file)
                }
                template = templates[file]!
            } else {
                guard case .string(let source)? = c["template"] else { return XCTFail("case \(i) has no template") }
                template = try ChatTemplate(source: source, origin: "case \(i)")
            }
            guard case .dict(let variables)? = c["variables"] else { return XCTFail("case \(i) has no variables") }
            let given = Dictionary(uniqueKeysWithValues: variables.keys.map { ($0, variables[$0]!) })
            if case .string(let expected)? = c["expected"] {
                do {
                    let rendered = try template.render(given)
                    XCTAssertEqual(rendered, expected, "case \(i) (\(template.origin)): \(template.source.prefix(120))")
                    compared += 1
                } catch {
                    XCTFail("case \(i) (\(template.origin)) failed: \(error)")
                }
            } else {
                XCTAssertThrowsError(try template.render(given), "case \(i) should fail as in transformers: \(c["error"]?.pythonString ?? "")")
                refused += 1
            }
        }
        XCTAssertGreaterThan(compared, 200)
        XCTAssertEqual(refused, 1)
    }
}
