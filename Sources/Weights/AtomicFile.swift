import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that a kill or a power cut at any instant leaves either the old or the new
/// version at the path, never a mix: the bytes go to a temporary file in the same folder, which is
/// fsync'ed, renamed over the path (atomic on POSIX file systems), and then the folder itself is
/// fsync'ed so the rename survives a power cut too. Every file a run or an export writes goes
/// through here (run.json, rewritten logs, snapshots, optimizer state, exported folders).
///
/// A process killed mid-write leaves its temporary file behind: `.NAME.tmp-PID-RANDOM`.
/// `removeStaleTemporaries(in:)` clears them; only call it while holding the folder's writer lock
/// (RunFolder), otherwise it could delete a live writer's file.
public enum AtomicFile {
    /// Marker in every temporary name, so stale ones can be found again.
    public static let temporaryMarker = ".tmp-"

    /// A temporary path beside `path` (same folder, so the rename cannot cross file systems).
    public static func temporaryPath(for path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let baseName = (path as NSString).lastPathComponent
        return (directory.isEmpty ? "" : directory + "/")
            + ".\(baseName)\(temporaryMarker)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Writes `path` atomically: `body` writes the content through the given descriptor (use
    /// `writeAll`); then fsync, rename over `path`, fsync of the folder. Errors name `path` and the
    /// system's reason (e.g. "No space left on device"); on any error the temporary file is removed.
    public static func write(path: String, _ body: (Int32) throws -> Void) throws {
        let tempPath = temporaryPath(for: path)
        let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw WeightsError(.cannotWrite, "\(path): cannot create temporary file \(tempPath) (\(errnoText()))")
        }
        var closed = false
        var renamed = false
        defer {
            if !closed { close(fd) }
            if !renamed { unlink(tempPath) }
        }
        try body(fd)
        guard fsync(fd) == 0 else { throw WeightsError(.cannotWrite, "\(path): fsync failed (\(errnoText()))") }
        closed = true
        guard close(fd) == 0 else { throw WeightsError(.cannotWrite, "\(path): close failed (\(errnoText()))") }
        guard rename(tempPath, path) == 0 else {
            throw WeightsError(.cannotWrite, "\(path): cannot rename \(tempPath) into place (\(errnoText()))")
        }
        renamed = true
        try syncDirectory(containing: path)
    }

    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String) throws {
        try write(path: path) { fd in try data.withUnsafeBytes { try writeAll(fd, $0, path: path) } }
    }

    /// Writes the whole buffer, retrying short writes and EINTR. `what` names the part being
    /// written (a tensor, a log line) in the error.
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String, what: String? = nil) throws {
        guard var p = buffer.baseAddress else { return }
        var remaining = buffer.count
        while remaining > 0 {
            let n = posixWrite(fd, p, min(remaining, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                let part = what.map { " (\($0))" } ?? ""
                throw WeightsError(.cannotWrite, "\(path): write failed\(part): \(errnoText())")
            }
            p += n
            remaining -= n
        }
    }

    /// fsync of the folder holding `path`, so a create, rename or unlink in it is durable.
    public static func syncDirectory(containing path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try syncDirectory(directory.isEmpty ? "." : directory)
    }

    /// fsync of the folder `directory`.
    public static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw WeightsError(.cannotWrite, "\(directory): cannot open folder to sync (\(errnoText()))") }
        defer { close(fd) }
        // Some file systems refuse fsync on folders (EINVAL); the rename is then as durable as they allow.
        guard fsync(fd) == 0 || errno == EINVAL else {
            throw WeightsError(.cannotWrite, "\(directory): fsync of the folder failed (\(errnoText()))")
        }
    }

    /// fsync of an existing file (e.g. one copied into a folder about to be renamed into place).
    public static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WeightsError(.cannotWrite, "\(path): cannot open to sync (\(errnoText()))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw WeightsError(.cannotWrite, "\(path): fsync failed (\(errnoText()))") }
    }

    /// Removes the temporary files of writes that never finished (`.NAME.tmp-*`) from `directory`,
    /// returning their paths. Only safe while no other process writes into `directory`.
    @discardableResult
    public static func removeStaleTemporaries(in directory: String) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        var removed: [String] = []
        for name in names where name.hasPrefix(".") && name.contains(temporaryMarker) {
            let path = directory + "/" + name
            if unlink(path) == 0 { removed.append(path) }
        }
        if !removed.isEmpty { try syncDirectory(directory) }
        return removed
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// The C `write`, reachable from types whose own `write` shadows it.
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, p, count)
}
