import Foundation

/// What a large buffer is for, in memory reports (docs/ARCHITECTURE.md, decision 6).
public enum MemoryTag: String, CaseIterable, Codable, Sendable {
    /// The parameter arena.
    case weights
    /// Values of the forward pass: one layer's buffers for inference and MeZO, every layer's for backprop.
    case activations
    /// d loss / d parameter, an arena with the weights' layout.
    case gradients
    /// Optimizer state (AdamW's two moments).
    case optimizer
    /// Working buffers of the backward pass and of the loss heads.
    case scratch
}

/// The one place large Float buffers come from: every allocation carries a tag, and the ledger
/// keeps the bytes held per tag now and at the moment the total was highest. `zofinetune profile`
/// compares that peak breakdown with the VmHWM the kernel measured.
///
/// Buffers are 64-byte aligned (one AVX-512 vector) and zero-filled, so their pages are resident
/// from the start: the ledger's bytes are bytes the operating system counts.
public enum TaggedMemory {
    /// Bytes per tag at one moment.
    public struct Breakdown: Sendable, Equatable {
        public var bytes: [MemoryTag: Int] = [:]
        public var total: Int { bytes.values.reduce(0, +) }
        public subscript(tag: MemoryTag) -> Int { bytes[tag] ?? 0 }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var held = Breakdown()
    nonisolated(unsafe) private static var peakHeld = Breakdown()

    /// `count` zeroed floats tagged `tag`; give them back with `free(_:count:tag:)`.
    /// `touch: false` leaves the pages untouched (a large allocation is fresh zero pages from the
    /// kernel, resident only once written): a pipeline stage's arena, of which it fills only its part.
    public static func allocate(floats count: Int, tag: MemoryTag, touch: Bool = true) -> UnsafeMutablePointer<Float> {
        guard let p = allocateIfPossible(floats: count, tag: tag, touch: touch) else {
            fatalError("cannot allocate \(count) floats of \(tag.rawValue)")
        }
        return p
    }

    /// As `allocate`, but nil when the byte count overflows Int or the system refuses it: for sizes
    /// that come from input, whose callers report an error naming the buffer and the bytes
    /// (`ParameterArena.init(checking:)`).
    public static func allocateIfPossible(floats count: Int, tag: MemoryTag, touch: Bool = true) -> UnsafeMutablePointer<Float>? {
        // Checked by hand, not by precondition(): this module builds with -Ounchecked, where a
        // precondition's condition is never evaluated and arithmetic does not trap on overflow.
        guard count >= 0, count <= Int.max / MemoryLayout<Float>.size - 64 else { return nil }
        let bytes = max(1, count) * MemoryLayout<Float>.size
        var raw: UnsafeMutableRawPointer?
        let status = posix_memalign(&raw, 64, bytes)
        guard status == 0, let raw else { return nil }
        let p = raw.bindMemory(to: Float.self, capacity: max(1, count))
        if touch { p.initialize(repeating: 0, count: max(1, count)) }
        record(tag, bytes)
        return p
    }

    /// Frees a buffer from `allocate(floats:tag:)` with the same count and tag.
    public static func free(_ p: UnsafeMutablePointer<Float>, count: Int, tag: MemoryTag) {
        Foundation.free(p)
        record(tag, -max(1, count) * MemoryLayout<Float>.size)
    }

    /// Bytes held now, per tag.
    public static var current: Breakdown { lock.lock(); defer { lock.unlock() }; return held }

    /// Bytes per tag when the total was highest since the process started (or `resetPeak`).
    public static var peak: Breakdown { lock.lock(); defer { lock.unlock() }; return peakHeld }

    /// Starts a new peak from what is held now.
    public static func resetPeak() { lock.lock(); peakHeld = held; lock.unlock() }

    private static func record(_ tag: MemoryTag, _ bytes: Int) {
        lock.lock()
        held.bytes[tag, default: 0] += bytes
        if held.total > peakHeld.total { peakHeld = held }
        lock.unlock()
    }
}

/// A tagged buffer of floats freed with its owner: for the carved-up activation and scratch blocks.
public final class TaggedBuffer: @unchecked Sendable {
    public let tag: MemoryTag
    /// Floats held.   base: (count)
    public let count: Int
    public let base: UnsafeMutablePointer<Float>
    public var byteCount: Int { count * MemoryLayout<Float>.size }

    public init(floats count: Int, tag: MemoryTag) {
        self.tag = tag
        self.count = count
        base = TaggedMemory.allocate(floats: count, tag: tag)
    }

    /// One allocation carved into views of the given element counts, each view starting on a
    /// 64-byte boundary; returns the buffer and the views in the order of `counts`.
    public static func carved(_ counts: [Int], tag: MemoryTag) -> (TaggedBuffer, [UnsafeMutablePointer<Float>]) {
        var offsets: [Int] = []
        var total = 0
        for n in counts {
            offsets.append(total)
            total += (n + 15) / 16 * 16
        }
        let buffer = TaggedBuffer(floats: total, tag: tag)
        return (buffer, offsets.map { buffer.base + $0 })
    }

    deinit { TaggedMemory.free(base, count: count, tag: tag) }
}
