import Foundation
import Weights

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One writer per run folder: an advisory lock (flock) on `<run>/.lock`, held from the moment a
/// `train` opens the folder until the process ends. The kernel drops a flock when its descriptor
/// closes, so any exit — normal, an error, SIGKILL — releases it; nothing stale is left to clean.
/// Readers (eval, export) do not lock: every file is replaced atomically and the log only grows.
final class RunFolderLock {
    static let fileName = ".lock"
    let path: String
    private let fd: Int32

    /// Takes the lock or throws naming the folder and, when known, the process holding it.
    init(folder: String) throws {
        path = folder + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunError("\(path): cannot open the run folder's lock (\(String(cString: strerror(errno))))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            var holder = ""
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
               let pid = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                holder = " (process \(pid))"
            }
            close(fd)
            if reason == EWOULDBLOCK {
                throw RunError("\(folder) is in use by another zofinetune process\(holder): one run folder has one writer; "
                               + "wait for it to finish or stop it first")
            }
            throw RunError("\(path): cannot lock the run folder (\(String(cString: strerror(reason))))")
        }
        self.fd = fd
        // The holder's pid, for the message above (informative only: the flock is the lock).
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit { close(fd) }   // releases the flock
}

extension RunFolder {
    /// Makes this process the folder's only writer (until it exits), then removes what writes
    /// killed mid-way left behind (temporary snapshots and logs): with the lock held, none of them
    /// can belong to a live writer. Returns the removed paths. `create` locks by itself.
    @discardableResult
    public func lockForWriting() throws -> [String] {
        if writerLock == nil { writerLock = try RunFolderLock(folder: path) }
        return try AtomicFile.removeStaleTemporaries(in: path)
    }
}
