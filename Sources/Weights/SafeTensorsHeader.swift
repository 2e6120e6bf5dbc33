import Foundation

// Parsing and validating the JSON header of a safetensors file.
//
// Layout (https://github.com/huggingface/safetensors): 8 bytes little-endian u64 N, then N bytes
// of UTF-8 JSON, then the data section. The JSON maps tensor names to
// {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} with offsets relative to the data
// section, plus an optional "__metadata__" object of string → string.

/// Element types the reader converts to f32. Other safetensors dtypes (I64, BOOL, F64, ...) are
/// accepted in the header and listed, but reading them throws `unsupportedDType`.
public enum DType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        }
    }
}

/// One tensor's entry in a safetensors header.
public struct TensorInfo: Equatable, Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range inside the data section (the header's `data_offsets`).
    public let dataOffsets: Range<Int>
    /// Byte offset of the tensor's first element from the start of the file.
    public let fileOffset: Int

    /// Number of elements (1 for a scalar, shape `[]`).
    public var count: Int { shape.reduce(1, *) }
}

/// A header entry as stored, before narrowing to the dtypes we can read.
struct StoredEntry {
    let name: String
    /// The dtype string exactly as in the file ("F32", "I64", ...).
    let dtypeName: String
    /// nil when the dtype is valid but not readable as floats.
    let dtype: DType?
    let shape: [Int]
    let count: Int
    let begin: Int
    let end: Int
}

/// The parsed header.
struct SafeTensorsHeader {
    /// Refuse headers above this size: a real one is kilobytes, so a larger value means garbage
    /// (and would make us allocate it before finding out).
    static let maxHeaderLength = 100_000_000

    /// Size in bits of every dtype the safetensors format defines.
    static let dtypeBits: [String: Int] = [
        "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
        "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
        "I32": 32, "U32": 32, "F32": 32,
        "I64": 64, "U64": 64, "F64": 64, "C64": 64,
        "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
    ]

    let headerLength: Int
    /// Offset of the data section from the start of the file: 8 + headerLength.
    var dataStart: Int { 8 + headerLength }
    let entries: [String: StoredEntry]
    let metadata: [String: String]

    /// Parses and validates the header of a file of `fileSize` bytes starting at `base`.
    init(base: UnsafeRawPointer, fileSize: Int, path: String) throws {
        guard fileSize >= 8 else {
            throw WeightsError(
                .truncated,
                "\(path): file is \(fileSize) bytes, shorter than the 8-byte safetensors header length")
        }
        let n = base.loadUnaligned(as: UInt64.self).littleEndian
        guard n > 0, n <= UInt64(Self.maxHeaderLength) else {
            throw WeightsError(
                .badHeaderLength,
                "\(path): header length \(n) is \(n == 0 ? "zero" : "absurd (> \(Self.maxHeaderLength) bytes)"); "
                    + "not a safetensors file?")
        }
        guard Int(n) <= fileSize - 8 else {
            throw WeightsError(
                .badHeaderLength,
                "\(path): header length \(n) runs past the end of the file (\(fileSize) bytes); "
                    + "file truncated or not safetensors")
        }
        headerLength = Int(n)
        let dataLength = fileSize - 8 - headerLength

        let json = Data(bytes: base + 8, count: headerLength)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: json, options: [])
        } catch {
            throw WeightsError(.badHeaderJSON, "\(path): header is not valid JSON (\(error.localizedDescription))")
        }
        guard let root = object as? [String: Any] else {
            throw WeightsError(.badHeaderJSON, "\(path): header is JSON but not an object")
        }

        var metadata: [String: String] = [:]
        var entries: [String: StoredEntry] = [:]
        for (name, value) in root {
            if name == "__metadata__" {
                guard let dict = value as? [String: Any] else {
                    throw WeightsError(.badHeaderJSON, "\(path): __metadata__ is not an object")
                }
                for (key, v) in dict {
                    guard let s = v as? String else {
                        throw WeightsError(.badHeaderJSON, "\(path): __metadata__ value for '\(key)' is not a string")
                    }
                    metadata[key] = s
                }
                continue
            }
            entries[name] = try Self.parseEntry(name: name, value: value, dataLength: dataLength, path: path)
        }
        self.metadata = metadata
        self.entries = entries
    }

    private static func parseEntry(name: String, value: Any, dataLength: Int, path: String) throws -> StoredEntry {
        func bad(_ what: String) -> WeightsError {
            WeightsError(.badEntry, "\(path): tensor '\(name)': \(what)")
        }
        guard let dict = value as? [String: Any] else { throw bad("entry is not a JSON object") }
        guard let dtypeValue = dict["dtype"] else { throw bad("entry has no \"dtype\"") }
        guard let dtypeName = dtypeValue as? String else { throw bad("\"dtype\" is not a string") }
        guard let shapeValue = dict["shape"] else { throw bad("entry has no \"shape\"") }
        guard let shapeArray = shapeValue as? [Any] else { throw bad("\"shape\" is not an array") }
        guard let offsetsValue = dict["data_offsets"] else { throw bad("entry has no \"data_offsets\"") }
        guard let offsetsArray = offsetsValue as? [Any], offsetsArray.count == 2 else {
            throw bad("\"data_offsets\" is not an array of two integers")
        }

        var shape: [Int] = []
        shape.reserveCapacity(shapeArray.count)
        for dim in shapeArray {
            guard let d = nonNegativeInt(dim) else { throw bad("shape \(shapeArray) has a non-integer or negative dimension") }
            shape.append(d)
        }
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw bad("shape \(shape) overflows the element count") }
            count = p
        }

        guard let bits = dtypeBits[dtypeName] else {
            throw WeightsError(
                .unknownDType, "\(path): tensor '\(name)': unknown dtype \"\(dtypeName)\" (not a safetensors dtype)")
        }

        guard let begin = nonNegativeInt(offsetsArray[0]), let end = nonNegativeInt(offsetsArray[1]) else {
            throw WeightsError(
                .badOffsets, "\(path): tensor '\(name)': data_offsets \(offsetsArray) are not non-negative integers")
        }
        guard begin <= end else {
            throw WeightsError(.badOffsets, "\(path): tensor '\(name)': data_offsets [\(begin), \(end)] begin after end")
        }
        guard end <= dataLength else {
            throw WeightsError(
                .badOffsets,
                "\(path): tensor '\(name)': data_offsets [\(begin), \(end)] are out of range: the data section has "
                    + "\(dataLength) bytes (file truncated?)")
        }
        let (totalBits, overflow) = count.multipliedReportingOverflow(by: bits)
        guard !overflow, totalBits % 8 == 0, end - begin == totalBits / 8 else {
            throw WeightsError(
                .badOffsets,
                "\(path): tensor '\(name)': data_offsets [\(begin), \(end)] span \(end - begin) bytes but shape "
                    + "\(shape) × \(dtypeName) needs \(overflow ? "an overflowing number of" : String(totalBits / 8))")
        }
        return StoredEntry(
            name: name, dtypeName: dtypeName, dtype: DType(rawValue: dtypeName), shape: shape, count: count,
            begin: begin, end: end)
    }

    /// JSON numbers arrive as NSNumber; accept only exact non-negative integers (not 1.5, not -1).
    private static func nonNegativeInt(_ value: Any) -> Int? {
        if let i = value as? Int { return i >= 0 ? i : nil }
        if let u = value as? UInt64, u <= UInt64(Int.max) { return Int(u) }
        return nil
    }
}
