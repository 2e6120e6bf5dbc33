import Foundation
import Weights

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension RunFolder {
    /// JSON has no NaN or infinity, yet a skipped step's losses are exactly that: they are written as
    /// the strings "nan", "inf", "-inf" (before this, logging a skipped step failed with an
    /// EncodingError and the run stopped instead of skipping the step).
    static let nonFinite = (positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    /// The encoder of log lines: sorted keys, one line, non-finite floats as strings.
    static func lineEncoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: nonFinite.positiveInfinity, negativeInfinity: nonFinite.negativeInfinity, nan: nonFinite.nan)
        return e
    }

    /// The decoder of log lines, reading what `lineEncoder` writes.
    static func lineDecoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: nonFinite.positiveInfinity, negativeInfinity: nonFinite.negativeInfinity, nan: nonFinite.nan)
        return d
    }

    /// Verifies a snapshot's checksum once per version of the file (inode, size and mtime: an
    /// atomic replace makes a new inode), since replay asks about the same snapshot several times
    /// and hashing 1 GB is not free. Files without a checksum (written before checksums existed)
    /// pass: they were written atomically too.
    func verifiedOnce(_ file: SafeTensorsFile) throws {
        var st = stat()
        guard stat(file.path, &st) == 0 else {
            throw RunError("\(file.path): cannot stat (\(String(cString: strerror(errno))))")
        }
        let identity = "\(st.st_ino)-\(st.st_size)-\(st.st_mtim.tv_sec)-\(st.st_mtim.tv_nsec)"
        if verifiedFiles[file.path] == identity { return }
        try file.verifyChecksum(required: false)
        verifiedFiles[file.path] = identity
    }
}

extension ParameterArena {
    /// The first non-finite value, as (tensor name, element index), or nil when all are finite.
    public func firstNonFinite() -> (String, Int)? {
        for slot in slots {
            if slot.isHalf {
                // bf16: exponent bits all ones is Inf or NaN.
                let bits = UnsafeBufferPointer(start: halfPointer(slot), count: slot.count)
                if let i = bits.firstIndex(where: { $0 & 0x7f80 == 0x7f80 }) { return (slot.name, i) }
                continue
            }
            let values = buffer(slot)
            // Summing is one fast pass; only a non-finite sum needs the element-wise search.
            var sum: Float = 0
            for v in values { sum += v * 0 }   // 0·x is NaN exactly when x is NaN or ±inf
            guard sum.isNaN else { continue }
            if let i = values.firstIndex(where: { !$0.isFinite }) { return (slot.name, i) }
        }
        return nil
    }

    /// Throws naming the tensor and element when a weight is NaN or infinite: such weights are
    /// never written, so a run folder holds no corrupt snapshot.
    public func requireFinite(what: String) throws {
        if let (name, index) = firstNonFinite() {
            throw RunError("\(what): tensor '\(name)' element \(index) is not finite; refusing to write corrupt weights")
        }
    }
}
