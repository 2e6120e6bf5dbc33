// The task-file fields of a chat task (`"objective": "chat"`): the data is messages JSONL and the
// prompt is the model's own chat template, so most fields of the other objectives do not apply.

extension TaskSpec {
    /// Which assistant turns a chat task trains on (`train_on`, default the final one).
    public var chatTrainOn: ChatEncoder.TrainOn { trainOn.flatMap(ChatEncoder.TrainOn.init(rawValue:)) ?? .finalAssistant }

    func validateChat(path: String) throws {
        func fail(_ message: String) -> TaskDataError { TaskDataError(.badTaskFile, file: path, message) }
        if !template.isEmpty { throw fail("objective chat takes no \"template\": conversations are rendered by the model's chat template") }
        if !labels.isEmpty || labelColumn != nil || targetColumn != nil {
            throw fail("objective chat takes no \"labels\", \"label_column\" or \"target_column\": the answers are the assistant's turns")
        }
        if demonstrations != nil { throw fail("objective chat takes no \"demonstrations\" (put examples in the conversation)") }
        if let trainOn, ChatEncoder.TrainOn(rawValue: trainOn) == nil {
            throw fail("train_on must be \(ChatEncoder.TrainOn.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")), not \"\(trainOn)\"")
        }
        if let metric, metric != .exactMatch && metric != .f1 {
            throw fail("metric \(metric.rawValue) is for objective classify; chat compares generated answers with exact_match or f1")
        }
        if let n = maxNewTokens, n < 1 { throw fail("max_new_tokens must be at least 1") }
    }
}
