// A model folder's chat template and the special-token strings it is rendered with, found where
// transformers looks: `chat_template.jinja` beside the weights (transformers ≥ 4.43 writes it
// there), else `chat_template` in tokenizer_config.json (a string, or a list of named templates
// of which "default" is used).

import ChatTemplates
import Foundation

public struct ModelChatTemplate: Sendable {
    public let template: ChatTemplate
    /// The file the template was read from.
    public let file: String
    /// `bos_token`, `eos_token`, `unk_token`, `pad_token`, … as strings: the variables
    /// transformers passes to every render (its `special_tokens_map`).
    public let specialTokens: [String: String]

    public static let jinjaFileName = "chat_template.jinja"

    public init(template: ChatTemplate, file: String, specialTokens: [String: String]) {
        (self.template, self.file, self.specialTokens) = (template, file, specialTokens)
    }

    /// The template of `modelDirectory`. Throws a `TaskDataError` naming the folder when it has
    /// none, and a `TemplateError` naming the file and line when the template does not parse or
    /// uses a construct outside the supported subset.
    /// With `requireTemplate: false`, a folder without a template gives an empty one (its special
    /// tokens still read), for callers that bring their own template.
    public static func load(modelDirectory: String, requireTemplate: Bool = true) throws -> ModelChatTemplate {
        let folder = URL(fileURLWithPath: modelDirectory, isDirectory: true)
        let configPath = folder.appendingPathComponent("tokenizer_config.json").path
        var config: [String: Any] = [:]
        if let data = FileManager.default.contents(atPath: configPath) {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw TaskDataError(.noChatTemplate, file: configPath, "not a JSON object")
            }
            config = object
        }
        var specialTokens: [String: String] = [:]
        for (key, value) in config where key.hasSuffix("_token") {
            if let s = value as? String { specialTokens[key] = s }
            else if let d = value as? [String: Any], let s = d["content"] as? String { specialTokens[key] = s }
        }
        let jinjaPath = folder.appendingPathComponent(jinjaFileName).path
        if let data = FileManager.default.contents(atPath: jinjaPath) {
            guard let source = String(data: data, encoding: .utf8) else {
                throw TaskDataError(.invalidUTF8, file: jinjaPath, "not valid UTF-8")
            }
            return ModelChatTemplate(template: try ChatTemplate(source: source, origin: jinjaPath), file: jinjaPath,
                                     specialTokens: specialTokens)
        }
        let origin = configPath + " (chat_template)"
        switch config["chat_template"] {
        case let source as String:
            return ModelChatTemplate(template: try ChatTemplate(source: source, origin: origin), file: configPath,
                                     specialTokens: specialTokens)
        case let named as [[String: Any]]:
            guard let entry = named.first(where: { $0["name"] as? String == "default" }),
                  let source = entry["template"] as? String else {
                throw TaskDataError(.noChatTemplate, file: configPath,
                    "chat_template lists named templates but none is called \"default\"")
            }
            return ModelChatTemplate(template: try ChatTemplate(source: source, origin: origin), file: configPath,
                                     specialTokens: specialTokens)
        default:
            if !requireTemplate {
                return ModelChatTemplate(template: try ChatTemplate(source: "", origin: "none"), file: "none", specialTokens: specialTokens)
            }
            throw TaskDataError(.noChatTemplate, file: modelDirectory,
                "no chat template: neither \(jinjaFileName) nor a \"chat_template\" in tokenizer_config.json "
                + "(a base model has none; instruct models carry theirs)")
        }
    }
}
