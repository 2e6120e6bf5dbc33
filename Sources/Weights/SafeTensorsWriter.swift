import Foundation
import JSONStrings

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if _endian(big)
#error("safetensors stores little-endian data; reader and writer copy raw bytes and assume a little-endian host")
#endif

/// Writes F32 safetensors files byte-for-byte as Python's `safetensors` library does for f32 data:
/// tensors laid out in name order (byte-wise), compact JSON header with `__metadata__` first and the
/// tensors in that same order, header padded with spaces so the data section starts 8-byte aligned.
public enum SafeTensorsWriter {
    public struct Entry {
        public let name: String
        public let shape: [Int]
        /// F32, or BF16 (a bf16 arena's matrices, `ParameterArena.entries`).
        public let dtype: DType
        /// The elements' bytes, little-endian.
        public let bytes: UnsafeRawBufferPointer
        /// Elements in `bytes`.
        public let count: Int

        /// `data` must stay valid until `write` returns; its count must equal the product of `shape`.
        public init(name: String, shape: [Int], data: UnsafeBufferPointer<Float>) {
            (self.name, self.shape, dtype, bytes, count) = (name, shape, .f32, UnsafeRawBufferPointer(data), data.count)
        }

        /// bf16 bits, written as a BF16 tensor.
        public init(name: String, shape: [Int], bf16: UnsafeBufferPointer<UInt16>) {
            (self.name, self.shape, dtype, bytes, count) = (name, shape, .bf16, UnsafeRawBufferPointer(bf16), bf16.count)
        }

        /// The same tensor under another name.
        public func renamed(_ newName: String) -> Entry {
            dtype == .f32 ? Entry(name: newName, shape: shape, data: data)
                : Entry(name: newName, shape: shape, bf16: bytes.bindMemory(to: UInt16.self))
        }

        /// The elements of an F32 entry.
        public var data: UnsafeBufferPointer<Float> {
            precondition(dtype == .f32, "tensor '\(name)' is \(dtype.rawValue), not F32")
            return bytes.bindMemory(to: Float.self)
        }
    }

    /// Metadata key of the data section's checksum (`XXH64`, 16 hex digits) in files written with
    /// `checksum: true`: run snapshots carry it so a torn or damaged one is never read as good.
    public static let checksumKey = "data_xxh64"

    /// Writes `entries` as F32 tensors to `path` atomically (`AtomicFile`: temporary file, fsync,
    /// rename, fsync of the folder), so an interrupted write never leaves a half file at `path`.
    /// `checksum`: also store the XXH64 of the data section under `checksumKey` in the metadata.
    /// Throws `invalidEntry` (duplicate or reserved name, count ≠ shape product) or `cannotWrite`.
    public static func write(path: String, entries: [Entry], metadata: [String: String] = [:],
                             checksum: Bool = false) throws {
        let sorted = try validated(entries, path: path)
        var metadata = metadata
        if checksum {
            var state = XXH64.State()
            for entry in sorted { state.update(entry.bytes) }
            metadata[checksumKey] = checksumText(state.digest())
        }
        let headerBytes = header(for: sorted, metadata: metadata)
        try AtomicFile.write(path: path) { fd in
            var lengthPrefix = UInt64(headerBytes.count).littleEndian
            try withUnsafeBytes(of: &lengthPrefix) { try AtomicFile.writeAll(fd, $0, path: path) }
            try headerBytes.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
            for entry in sorted {
                try AtomicFile.writeAll(fd, entry.bytes, path: path, what: "tensor '\(entry.name)'")
            }
        }
    }

    /// A checksum as stored in the metadata: 16 lowercase hex digits.
    static func checksumText(_ value: UInt64) -> String {
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Checks names and counts; returns the entries in the order Python's library lays them out
    /// (for a single dtype: byte-wise by name).
    private static func validated(_ entries: [Entry], path: String) throws -> [Entry] {
        var seen = Set<String>()
        for e in entries {
            guard e.name != "__metadata__" else {
                throw WeightsError(.invalidEntry, "\(path): tensor name '__metadata__' is reserved by the format")
            }
            guard seen.insert(e.name).inserted else {
                throw WeightsError(.invalidEntry, "\(path): tensor '\(e.name)' appears twice")
            }
            guard e.shape.allSatisfy({ $0 >= 0 }) else {
                throw WeightsError(.invalidEntry, "\(path): tensor '\(e.name)' has a negative dimension in \(e.shape)")
            }
            let expected = e.shape.reduce(1, *)
            guard e.count == expected else {
                throw WeightsError(
                    .invalidEntry,
                    "\(path): tensor '\(e.name)' has shape \(e.shape) (\(expected) elements) but \(e.count) "
                        + "values were given")
            }
        }
        // Python's library orders by dtype first (F32 before BF16), then by name.
        return entries.sorted { ($0.dtype == .f32) != ($1.dtype == .f32) ? $0.dtype == .f32
                                : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// The JSON header as serde_json prints it (compact, no escaped slashes), space-padded so that
    /// 8 + header length is a multiple of 8.
    static func header(for sorted: [Entry], metadata: [String: String]) -> [UInt8] {
        var json = "{"
        var first = true
        func separator() {
            if !first { json += "," }
            first = false
        }
        if !metadata.isEmpty {
            separator()
            json += "\"__metadata__\":{"
            let keys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            json += keys.map { "\(JSONString.quoted($0)):\(JSONString.quoted(metadata[$0]!))" }.joined(separator: ",")
            json += "}"
        }
        var offset = 0
        for e in sorted {
            separator()
            let bytes = e.bytes.count
            let shape = e.shape.map(String.init).joined(separator: ",")
            json += "\(JSONString.quoted(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        json += "}"
        var bytes = Array(json.utf8)
        let padding = (8 - bytes.count % 8) % 8
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
        return bytes
    }
}
