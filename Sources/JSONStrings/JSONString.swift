import Foundation

/// A JSON string literal as Python's `json.dumps(ensure_ascii=False)` and serde_json write it: `"`
/// and `\` escaped, the short forms for the control characters that have one, `\u00xx` (lower-case
/// hex) for the other control characters, everything else (non-ASCII included) verbatim. Chat
/// templates' `tojson` and the safetensors header both need these exact bytes (Foundation's
/// JSONSerialization escapes "/" and so differs), so the rule lives once, in a target of its own
/// that both can depend on without depending on each other.
public enum JSONString {
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
