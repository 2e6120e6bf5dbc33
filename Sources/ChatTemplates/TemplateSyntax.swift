// The parsed form of a chat template: statements (text, output, if, for, set, …) over expressions.

/// An expression inside `{{ … }}` or a tag.
indirect enum TemplateExpr {
    case literal(TemplateValue)
    case name(String)
    case list([TemplateExpr])
    case dict([(TemplateExpr, TemplateExpr)])
    case attribute(TemplateExpr, String)
    case index(TemplateExpr, TemplateExpr)
    case slice(TemplateExpr, start: TemplateExpr?, stop: TemplateExpr?, step: TemplateExpr?)
    case call(TemplateExpr, args: [TemplateExpr], kwargs: [(String, TemplateExpr)])
    case filter(TemplateExpr, name: String, args: [TemplateExpr], kwargs: [(String, TemplateExpr)])
    case test(TemplateExpr, name: String, args: [TemplateExpr], negated: Bool)
    case negate(TemplateExpr)
    case not(TemplateExpr)
    case and(TemplateExpr, TemplateExpr)
    case or(TemplateExpr, TemplateExpr)
    /// `+ - * / // % ** ~`
    case binary(String, TemplateExpr, TemplateExpr)
    /// `a < b <= c`, `x in y`, `x not in y` (Python's chained comparisons).
    case compare(TemplateExpr, [(String, TemplateExpr)])
    case conditional(condition: TemplateExpr, then: TemplateExpr, otherwise: TemplateExpr?)
}

/// Where `{% set … %}` stores.
enum SetTarget {
    case names([String])
    /// `{% set ns.attribute = … %}`
    case attribute(String, String)
}

/// A statement of the template, with the line it starts on (for errors).
indirect enum TemplateNode {
    case text(String)
    case output(TemplateExpr, line: Int)
    case ifBlock(branches: [(condition: TemplateExpr, body: [TemplateNode])], otherwise: [TemplateNode], line: Int)
    case forLoop(targets: [String], iterable: TemplateExpr, filter: TemplateExpr?, body: [TemplateNode],
                 otherwise: [TemplateNode], line: Int)
    case set(SetTarget, TemplateExpr, line: Int)
    /// `{% set x %}…{% endset %}`: the body's text.
    case setBlock(String, body: [TemplateNode], line: Int)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
    /// transformers' `{% generation %}…{% endgeneration %}` (marks assistant text for its masks):
    /// renders its body.
    case generation([TemplateNode])
}
