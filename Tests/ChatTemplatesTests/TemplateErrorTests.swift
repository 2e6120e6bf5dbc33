import ChatTemplates
import XCTest

/// What the interpreter refuses, and that each refusal names the template, the line and the construct.
final class TemplateErrorTests: XCTestCase {
    func error(_ source: String, _ variables: [String: TemplateValue] = [:]) -> TemplateError? {
        do {
            let template = try ChatTemplate(source: source, origin: "t.jinja")
            _ = try template.render(variables)
            return nil
        } catch let e as TemplateError {
            return e
        } catch {
            XCTFail("not a TemplateError: \(error)")
            return nil
        }
    }

    func testUnsupportedStatementsAreNamedWithTheirLine() {
        for (keyword, source) in [
            ("macro", "a\nb\n{% macro m(x) %}{{ x }}{% endmacro %}"),
            ("include", "\n\n{% include 'other.jinja' %}"),
            ("raw", "x\ny\n{% raw %}{{ kept }}{% endraw %}"),
            ("filter", "\n\n{% filter upper %}x{% endfilter %}"),
            ("call", "\n\n{% call m() %}x{% endcall %}"),
        ] {
            let e = error(source)
            XCTAssertEqual(e?.kind, .unsupported, keyword)
            XCTAssertEqual(e?.line, 3, keyword)
            XCTAssertTrue(e?.description.contains("{% \(keyword) %}") ?? false, "\(keyword): \(String(describing: e))")
            XCTAssertTrue(e?.description.hasPrefix("t.jinja:3:") ?? false, "\(keyword): \(String(describing: e))")
        }
    }

    func testUnknownFiltersTestsAndFormattingAreNamed() {
        let filter = error("\n{{ x | frobnicate }}", ["x": .string("a")])
        XCTAssertEqual(filter?.kind, .unsupported)
        XCTAssertEqual(filter?.line, 2)
        XCTAssertTrue(filter?.description.contains("\"frobnicate\"") ?? false)
        let test = error("{% if x is prime %}{% endif %}", ["x": .int(3)])
        XCTAssertEqual(test?.kind, .unsupported)
        XCTAssertTrue(test?.description.contains("is prime") ?? false)
        let format = error("\n\n\n{{ '%s!' % name }}", ["name": .string("a")])
        XCTAssertEqual(format?.kind, .unsupported)
        XCTAssertEqual(format?.line, 4)
        let method = error("{{ '{}'.format(1) }}")
        XCTAssertEqual(method?.kind, .unsupported)
        XCTAssertTrue(method?.description.contains("str.format()") ?? false)
    }

    func testRaiseExceptionCarriesTheTemplatesMessageAndLine() {
        let e = error("{% for m in messages %}\n{% if m.role == 'tool' %}\n{{ raise_exception('no tools here') }}\n{% endif %}\n{% endfor %}",
                      ["messages": .list([.dict(TemplateDict([("role", .string("tool"))]))])])
        XCTAssertEqual(e?.kind, .raised)
        XCTAssertEqual(e?.line, 3)
        XCTAssertEqual(e?.message, "no tools here")
        XCTAssertTrue(e?.description.contains("t.jinja:3") ?? false)
    }

    func testSyntaxErrorsNameTheLine() {
        XCTAssertEqual(error("ok\n{% if x %}never closed")?.line, 2)
        XCTAssertEqual(error("ok\n{% if x %}never closed")?.kind, .syntax)
        XCTAssertEqual(error("\n\n{{ 1 + }}")?.line, 3)
        XCTAssertEqual(error("{{ x")?.kind, .syntax)
        XCTAssertEqual(error("{% endfor %}")?.kind, .syntax)
        XCTAssertEqual(error("{% frob %}")?.kind, .syntax)
    }

    func testUndefinedUsedAsAContainerAndSandboxedMutationFail() {
        let undefined = error("\n{{ missing.role }}")
        XCTAssertEqual(undefined?.kind, .runtime)
        XCTAssertEqual(undefined?.line, 2)
        XCTAssertTrue(undefined?.description.contains("missing is undefined") ?? false)
        // Printing an undefined value writes nothing, as Jinja's default Undefined.
        XCTAssertNil(error("{{ missing }}"))
        let append = error("{% set l = [] %}{{ l.append(1) }}")
        XCTAssertEqual(append?.kind, .runtime)
        XCTAssertTrue(append?.description.contains("sandbox") ?? false)
        XCTAssertEqual(error("{{ 'a' + 1 }}")?.kind, .runtime)
    }
}
