import Foundation

/// Resident-memory figures the kernel keeps for this process (/proc/self/status).
public enum ProcessMemory {
    /// Peak resident set size (VmHWM), in bytes; nil where /proc is unavailable.
    public static var peakResidentBytes: Int? { field("VmHWM") }

    /// Current resident set size (VmRSS), in bytes.
    public static var residentBytes: Int? { field("VmRSS") }

    /// The file-backed part of it (RssFile), in bytes: what mapped files hold resident.
    public static var residentFileBytes: Int? { field("RssFile") }

    /// Memory the system can give without swapping (MemAvailable of /proc/meminfo), in bytes.
    public static var availableBytes: Int? { field("MemAvailable", file: "/proc/meminfo") }

    static func field(_ name: String, file: String = "/proc/self/status") -> Int? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let kb = line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
            return kb.map { $0 * 1024 }
        }
        return nil
    }
}
