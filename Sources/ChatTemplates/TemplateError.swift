// Every way a chat template can fail, each naming the template (its file) and the line, so a user
// sees which construct of which template stopped the rendering.

/// A chat template could not be parsed or rendered.
public struct TemplateError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// Not Jinja at all (an unclosed tag, a stray token).
        case syntax
        /// Valid Jinja this interpreter does not implement (macro, include, …): refused by name.
        case unsupported
        /// A runtime error: a wrong type, an undefined value used as a container, …
        case runtime
        /// The template called `raise_exception(message)`.
        case raised
    }

    public let kind: Kind
    /// The template's file (or what holds it, e.g. "tokenizer_config.json"); filled in by `ChatTemplate`.
    public var origin: String
    /// 1-based line of the template.
    public let line: Int
    public let message: String

    public init(_ kind: Kind, line: Int, _ message: String, origin: String = "chat template") {
        (self.kind, self.line, self.message, self.origin) = (kind, line, message, origin)
    }

    public var description: String {
        switch kind {
        case .raised: return "\(origin):\(line): the chat template refused the conversation: \(message)"
        case .unsupported: return "\(origin):\(line): unsupported chat-template construct: \(message)"
        default: return "\(origin):\(line): \(message)"
        }
    }
}
