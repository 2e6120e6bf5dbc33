// The libFuzzer entry point over FuzzSupport's targets (Tests/Fuzz/FuzzSupport/FuzzTargets.swift,
// which says how to build it), or, without -DFUZZING, a replayer of input files.

import Foundation
import FuzzSupport

#if canImport(Glibc)
import Glibc
#endif

/// The target named by $FUZZ_TARGET (checked once).
let selected: (Data) -> Void = {
    let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
    guard let target = fuzzTargets[name] else {
        fputs("set FUZZ_TARGET to one of: \(fuzzTargets.keys.sorted().joined(separator: ", "))\n", stderr)
        exit(2)
    }
    return target
}()

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    selected(start.map { Data(bytes: $0, count: count) } ?? Data())
    return 0
}
#else
/// Replays inputs without libFuzzer: `zofinetune-fuzz TARGET FILE…` (folders are expanded).
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = fuzzTargets[name] else {
            fputs("usage: zofinetune-fuzz TARGET FILE|FOLDER… (targets: \(fuzzTargets.keys.sorted().joined(separator: ", ")))\n", stderr)
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 } : [path]
            for f in files {
                guard let bytes = FileManager.default.contents(atPath: f) else { continue }
                target(bytes)
                count += 1
            }
        }
        try? FileManager.default.removeItem(atPath: fuzzScratch)
        print("\(name): \(count) inputs replayed without a crash")
    }
}
#endif
