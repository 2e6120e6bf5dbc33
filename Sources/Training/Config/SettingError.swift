/// A setting out of range in a file: names the file and the key (run.json's `lozo_interval`, a
/// `--config` file's `lozo-interval`), with the same words the flag's message uses.
public struct SettingError: Error, CustomStringConvertible {
    public let description: String
    public init(file: String, key: String, _ why: String) { description = "\(file): \"\(key)\" \(why)" }
}
