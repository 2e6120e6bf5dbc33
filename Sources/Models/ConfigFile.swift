import Foundation

/// A model folder's `config.json`, read the one way every config type (decoder, encoder) and the
/// encoder/decoder choice read it: errors name the file, and a missing key names the key.
struct ConfigFile<Raw: Decodable> {
    /// `<directory>/config.json`, for messages.
    let path: String
    /// The file decoded into `Raw` (every field optional: what is required is checked by `need`).
    let raw: Raw

    /// The path of `<directory>/config.json` and its bytes.
    static func read(directory: String) throws -> (path: String, data: Data) {
        let path = (directory as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError("\(path): not found (a Hugging Face model folder needs config.json)")
        }
        return (path, data)
    }

    init(_ data: Data, path: String) throws {
        self.path = path
        do {
            raw = try JSONDecoder().decode(Raw.self, from: data)
        } catch {
            throw ModelError("\(path): not a valid model config: \(describe(error))")
        }
    }

    /// A value the config must have.
    func need<T>(_ value: T?, _ key: String) throws -> T {
        guard let value else { throw ModelError("\(path): missing \"\(key)\"") }
        return value
    }
}

/// Just the `model_type` of a config, to choose between encoder and decoder.
struct ModelTypeOnly: Decodable {
    let model_type: String?
}

/// A short reason out of a DecodingError, naming the key.
func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c),
         DecodingError.dataCorrupted(let c):
        let key = c.codingPath.map(\.stringValue).joined(separator: ".")
        return key.isEmpty ? c.debugDescription : "\"\(key)\": \(c.debugDescription)"
    case DecodingError.keyNotFound(let k, _):
        return "missing \"\(k.stringValue)\""
    default:
        return "\(error)"
    }
}
