// A model's chat template, parsed once and rendered for each conversation, as transformers'
// `apply_chat_template(…, tokenize=False)` renders it.

/// A parsed chat template (a Jinja program over `messages`).
public struct ChatTemplate: @unchecked Sendable {
    // @unchecked: the node tree is immutable after parsing (it holds only values and enums).
    private let nodes: [TemplateNode]
    /// Where the template came from (its file), named in errors.
    public let origin: String
    public let source: String

    /// Parses `source`. Throws a `TemplateError` naming `origin` and the line of a syntax error or
    /// of a construct outside the supported subset.
    public init(source: String, origin: String) throws {
        self.origin = origin
        self.source = source
        do {
            nodes = try TemplateParser.parse(try TemplateLexer.lex(source))
        } catch var e as TemplateError {
            e.origin = origin
            throw e
        }
    }

    /// The text for these variables (`messages`, `add_generation_prompt`, `bos_token`, …).
    public func render(_ variables: [String: TemplateValue]) throws -> String {
        let evaluator = TemplateEvaluator(variables: variables)
        do {
            _ = try evaluator.run(nodes)
        } catch var e as TemplateError {
            e.origin = origin
            throw e
        }
        return evaluator.output
    }

    /// Renders a conversation with the variables transformers passes: `messages`, `tools` and
    /// `documents` (None), `add_generation_prompt`, and the tokenizer's special-token strings
    /// (`bos_token`, `eos_token`, …).
    public func render(messages: [TemplateValue], addGenerationPrompt: Bool,
                       specialTokens: [String: String] = [:]) throws -> String {
        var variables: [String: TemplateValue] = [
            "messages": .list(messages), "add_generation_prompt": .bool(addGenerationPrompt),
            "tools": .none, "documents": .none,
        ]
        for (k, v) in specialTokens { variables[k] = .string(v) }
        return try render(variables)
    }
}
