import Foundation

/// The task files shipped with the project (`Sources/Tasks/BuiltinTasks/*.json`, bundled as
/// SwiftPM resources), and the lookup that `--task NAME|FILE.json` uses.
public enum BuiltinTasks {
    /// Names of the built-in tasks, sorted.
    public static var names: [String] {
        guard let dir = Bundle.module.resourceURL?.appendingPathComponent("BuiltinTasks"),
              let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// Path of the built-in task file `name`, or nil.
    public static func path(of name: String) -> String? {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "BuiltinTasks") else {
            return nil
        }
        return url.path
    }

    /// A task file's path, or a built-in's name: its spec and the path it came from.
    public static func resolve(_ nameOrPath: String) throws -> (spec: TaskSpec, path: String) {
        if nameOrPath.hasSuffix(".json") || nameOrPath.contains("/") {
            return (try TaskSpec.load(path: nameOrPath), nameOrPath)
        }
        guard let path = path(of: nameOrPath) else {
            throw TaskDataError(.missingFile, file: nameOrPath,
                "no built-in task of this name and not a .json file (built-in: \(names.joined(separator: ", ")))")
        }
        return (try TaskSpec.load(path: path), path)
    }
}

extension TaskPrompt {
    /// The built-in task `name` (e.g. "sst2") as a prompt, without demonstrations.
    public static func builtin(_ name: String) throws -> TaskPrompt {
        let (spec, path) = try BuiltinTasks.resolve(name)
        return try TaskPrompt(spec: spec, origin: path)
    }
}
