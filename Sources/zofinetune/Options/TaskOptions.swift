import ArgumentParser
import Foundation
import Tasks
import Training

/// --task and the data files, plus the task-file fields as flags for one-off runs.
struct TaskOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "A built-in task (\(BuiltinTasks.names.joined(separator: ", "))) or a task file (.json). Default sst2, unless --template poses one.",
        valueName: "name|file.json"))
    var task: String?

    @Option(name: .long, help: ArgumentHelp("Folder with train/dev/test as .tsv, .csv or .jsonl (sst2's default: $SST2_DIR, else data/sst2).", valueName: "dir"))
    var data: String?

    @Option(name: .customLong("train"), help: ArgumentHelp("The training split's file (.tsv, .csv, .jsonl), instead of --data.", valueName: "file"))
    var trainFile: String?
    @Option(name: .customLong("dev"), help: ArgumentHelp("The dev split's file.", valueName: "file"))
    var devFile: String?
    @Option(name: .customLong("test"), help: ArgumentHelp("The test split's file (its label column may be missing).", valueName: "file"))
    var testFile: String?

    @Option(name: .long, help: ArgumentHelp("The prompt, with {column} placeholders (overrides the task's).", valueName: "text"))
    var template: String?

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp(
        "Labels in order, each VALUE=WORD or VALUE=WORD1|WORD2 (alternatives), e.g. \"0= terrible\" \"1= great\" (overrides the task's).",
        valueName: "value=word"))
    var labelWords: [String] = []

    @Option(name: .long, help: "Column holding the label (default: the task's, else \"label\").")
    var labelColumn: String?

    @Option(name: .long, help: "complete: the column holding the target text.")
    var targetColumn: String?

    @Option(name: .long, help: "classify (default), complete, or chat (messages JSONL rendered by the model's chat template).")
    var taskObjective: TaskSpec.Objective?

    @Option(name: .long, help: "accuracy, macro_f1 (classify); exact_match, f1 (complete).")
    var metric: TaskSpec.Metric?

    @Option(name: .long, help: "complete: tokens to generate at most.")
    var maxNewTokens: Int?

    @Option(name: .customLong("demonstrations"), help: "In-context demonstrations from train before each prompt (k; default none).")
    var demonstrationCount: Int?

    @Flag(name: .customLong("no-bos"), help: "Do not prepend <bos> to prompts.")
    var noBOS = false

    func validate() throws {
        // The rules of the task file's max_new_tokens and demonstrations.k (TaskSpec.validate).
        try SettingRules.maxNewTokens.validate(maxNewTokens)
        try SettingRules.demonstrations.validate(demonstrationCount)
    }

    /// The data folder of the legacy SST-2 loaders (bench, profile).
    var dataDirectory: String {
        data ?? ProcessInfo.processInfo.environment["SST2_DIR"] ?? "data/sst2"
    }

    /// The task's name for logs, run folders and JSON.
    var taskName: String {
        if let task { return task.hasSuffix(".json") ? ((task as NSString).lastPathComponent as NSString).deletingPathExtension : task }
        return template == nil ? "sst2" : "custom"
    }

    /// True when a flag poses the task (--task or any of its fields).
    var posesTask: Bool {
        task != nil || template != nil || !labelWords.isEmpty || labelColumn != nil || targetColumn != nil
            || taskObjective != nil || metric != nil || maxNewTokens != nil || demonstrationCount != nil || noBOS
    }

    /// The task of a command that continues or evaluates a run: the run's own (run.json) when no
    /// flag poses one; the same task posed again is accepted; a different one is refused, naming both.
    func prompt(run: RunTask?, runPath: String) throws -> TaskPrompt {
        guard let run else { return try prompt() }
        guard posesTask else { return try TaskPrompt(spec: run.spec, origin: "\(run.origin) (from \(runPath)/run.json)") }
        let given: TaskPrompt
        do { given = try prompt() } catch {
            throw InputError("\(runPath) was trained on the task \(run.origin); the flags pose a different task, "
                + "and not a valid one: \(error)")
        }
        guard given.spec == run.spec else {
            throw InputError("\(runPath) was trained on the task \(run.origin) (\(runPath)/run.json, \"task_file\"); \(given.origin) is a different task "
                + "(leave out --task and its flags to use the run's, or train a new run)")
        }
        return given
    }

    /// The data files of a run's task when no flag names data (`--data`, `--train`, `--dev`, `--test`).
    var namesData: Bool { data != nil || trainFile != nil || devFile != nil || testFile != nil }

    /// The task: its file (or built-in) with the flags' overrides, checked; and what names it in errors.
    func prompt() throws -> TaskPrompt {
        var spec: TaskSpec
        var origin: String
        if let task {
            (spec, origin) = try BuiltinTasks.resolve(task)
        } else if taskObjective == .chat {
            // A chat task needs no template of ours: the model's chat template poses it.
            spec = TaskSpec(template: template ?? "", objective: .chat)
            origin = "command line"
        } else if let template {
            spec = TaskSpec(template: template, labelColumn: "label")
            origin = "command line"
        } else {
            (spec, origin) = try BuiltinTasks.resolve("sst2")
        }
        let overridden = template != nil || !labelWords.isEmpty || labelColumn != nil || targetColumn != nil
            || taskObjective != nil || metric != nil || maxNewTokens != nil || demonstrationCount != nil || noBOS
        if task != nil && overridden { origin += " (with command-line overrides)" }
        if let template, spec.objective != .chat { spec.template = template }
        if !labelWords.isEmpty {
            spec.labels = try labelWords.map { item in
                guard let eq = item.firstIndex(of: "=") else {
                    throw ValidationError("--label-words takes VALUE=WORD items, not \"\(item)\"")
                }
                let words = item[item.index(after: eq)...].split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                return TaskSpec.Label(value: String(item[..<eq]), words: words)
            }
        }
        if let labelColumn { spec.labelColumn = labelColumn }
        if let targetColumn { spec.targetColumn = targetColumn }
        if let taskObjective { spec.objective = taskObjective }
        if spec.objective == .complete && task == nil { spec.labelColumn = nil }
        if let metric { spec.metric = metric }
        if let maxNewTokens { spec.maxNewTokens = maxNewTokens }
        if let demonstrationCount { spec.demonstrations = .init(k: demonstrationCount) }
        if noBOS { spec.bos = false }
        try spec.validate(path: origin)
        return try TaskPrompt(spec: spec, origin: origin)
    }

    /// The file of `split`: --train/--dev/--test, else found in --data (else the run's file of that
    /// split, else sst2's default folder).
    func file(for split: Split, spec: TaskSpec, run: RunTask? = nil) throws -> String {
        let named: String? = [.train: trainFile, .dev: devFile, .test: testFile][split] ?? nil
        if let named { return named }
        if !namesData, let kept = run?.data[split.rawValue] { return kept }
        guard let directory = data ?? (taskName == "sst2" ? dataDirectory : nil) else {
            throw ValidationError("give --data DIR (with train/dev/test .tsv, .csv or .jsonl) or --\(split.rawValue) FILE")
        }
        return try DataFiles.find(directory: directory, split: split)
    }

    /// The examples of `split`. A test split may come without labels (label -1).
    func examples(_ split: Split, prompt: TaskPrompt, run: RunTask? = nil) throws -> [LabeledExample] {
        try TaskExamples.load(path: file(for: split, spec: prompt.spec, run: run), spec: prompt.spec, requireLabels: split != .test)
    }

    /// What a new run keeps of its task: the spec, what named it, and the absolute paths of the
    /// splits that exist (a missing test split is fine).
    func runTask(_ prompt: TaskPrompt) -> RunTask {
        var data: [String: String] = [:]
        for split in [Split.train, .dev, .test] {
            if let path = try? file(for: split, spec: prompt.spec) {
                data[split.rawValue] = URL(fileURLWithPath: path).standardizedFileURL.path
            }
        }
        return RunTask(spec: prompt.spec, origin: task ?? (template == nil ? "sst2" : "command line"), data: data)
    }
}

extension TaskSpec.Objective: ExpressibleByArgument {}
extension TaskSpec.Metric: ExpressibleByArgument {}
