import Foundation

/// A metadata value of a GGUF file (the types of gguf-py's `GGUFValueType` that llama.cpp's model
/// metadata uses).
public enum GGUFValue: Sendable, Equatable {
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case strings([String])
    case float32s([Float])
    case int32s([Int32])
    case uint32s([UInt32])
    case bools([Bool])

    /// `GGUFValueType` ids: UINT32 4, INT32 5, FLOAT32 6, BOOL 7, STRING 8, ARRAY 9.
    var typeID: UInt32 {
        switch self {
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .strings, .float32s, .int32s, .uint32s, .bools: return 9
        }
    }
}

/// One tensor to write: its GGUF name, its shape in row-major (PyTorch) order, the encoding, and
/// the f32 values it is made from.
public struct GGUFTensor {
    public let name: String
    /// Row-major, as in PyTorch: a linear layer's weight is (out, in). The file stores ggml's `ne`,
    /// the reverse (innermost first).
    public let shape: [Int]
    public let type: GGMLType
    public let data: UnsafeBufferPointer<Float>

    public init(name: String, shape: [Int], type: GGMLType, data: UnsafeBufferPointer<Float>) {
        (self.name, self.shape, self.type, self.data) = (name, shape, type, data)
    }

    var byteCount: Int { type.byteCount(elements: data.count) }
}

/// Writes GGUF version 3 files (llama.cpp's format, docs/gguf.md in ggml): a header with the
/// metadata and the tensor table, then the tensors' bytes, each at an offset aligned to 32 bytes.
/// Like `SafeTensorsWriter`, the bytes go to a temporary file beside `path`, are fsync'ed and
/// renamed into place, so an interrupted export never leaves half a file.
public enum GGUFWriter {
    /// `general.alignment`'s default; the writer does not write the key, so readers use this.
    public static let alignment = 32

    /// Writes `metadata` (in the order given) and `tensors` (in the order given) to `path`.
    public static func write(path: String, metadata: [(String, GGUFValue)], tensors: [GGUFTensor]) throws {
        var seen = Set<String>()
        for t in tensors {
            guard seen.insert(t.name).inserted else { throw WeightsError(.invalidEntry, "\(path): tensor '\(t.name)' appears twice") }
            guard t.shape.reduce(1, *) == t.data.count else {
                throw WeightsError(.invalidEntry, "\(path): tensor '\(t.name)' has \(t.data.count) values for shape \(t.shape)")
            }
            guard let last = t.shape.last, last % t.type.blockSize == 0 else {
                throw WeightsError(.invalidEntry, "\(path): tensor '\(t.name)' rows of \(t.shape.last ?? 0) are not whole \(t.type) blocks")
            }
        }
        var header: [UInt8] = []
        header.append(contentsOf: Array("GGUF".utf8))
        appendInteger(UInt32(3), to: &header)
        appendInteger(UInt64(tensors.count), to: &header)
        appendInteger(UInt64(metadata.count), to: &header)
        for (key, value) in metadata {
            appendString(key, to: &header)
            appendInteger(value.typeID, to: &header)
            appendValue(value, to: &header)
        }
        var offset = 0
        for t in tensors {
            appendString(t.name, to: &header)
            appendInteger(UInt32(t.shape.count), to: &header)
            for n in t.shape.reversed() { appendInteger(UInt64(n), to: &header) }
            appendInteger(t.type.rawValue, to: &header)
            appendInteger(UInt64(offset), to: &header)
            offset = padded(offset + t.byteCount)
        }
        header.append(contentsOf: [UInt8](repeating: 0, count: padded(header.count) - header.count))

        // Temporary file, fsync, rename, fsync of the folder (AtomicFile): a kill mid-export leaves no torn GGUF.
        try AtomicFile.write(path: path) { fd in
            func put(_ bytes: [UInt8], _ what: String) throws {
                try bytes.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path, what: what) }
            }
            try put(header, "header")
            // Encoded a slice at a time: a Q8_0 or f16 copy of Gemma's 262,144-row embedding never exists whole.
            let chunk = 1 << 20
            var bytes: [UInt8] = []
            for t in tensors {
                var written = 0
                var start = 0
                while start < t.data.count {
                    let end = min(t.data.count, start + chunk)
                    bytes.removeAll(keepingCapacity: true)
                    t.type.encode(UnsafeBufferPointer(rebasing: t.data[start..<end]), into: &bytes)
                    try put(bytes, "tensor '\(t.name)'")
                    written += bytes.count
                    start = end
                }
                try put([UInt8](repeating: 0, count: padded(written) - written), "tensor '\(t.name)' padding")
            }
        }
    }

    static func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    static func appendInteger<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    static func appendString(_ s: String, to out: inout [UInt8]) {
        let utf8 = Array(s.utf8)
        appendInteger(UInt64(utf8.count), to: &out)
        out.append(contentsOf: utf8)
    }

    static func appendValue(_ value: GGUFValue, to out: inout [UInt8]) {
        func array<T>(_ items: [T], elementType: UInt32, _ each: (T) -> Void) {
            appendInteger(elementType, to: &out)
            appendInteger(UInt64(items.count), to: &out)
            items.forEach(each)
        }
        switch value {
        case .uint32(let v): appendInteger(v, to: &out)
        case .int32(let v): appendInteger(v, to: &out)
        case .float32(let v): appendInteger(v.bitPattern, to: &out)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let v): appendString(v, to: &out)
        case .strings(let v): array(v, elementType: 8) { appendString($0, to: &out) }
        case .float32s(let v): array(v, elementType: 6) { appendInteger($0.bitPattern, to: &out) }
        case .int32s(let v): array(v, elementType: 5) { appendInteger($0, to: &out) }
        case .uint32s(let v): array(v, elementType: 4) { appendInteger($0, to: &out) }
        case .bools(let v): array(v, elementType: 7) { out.append($0 ? 1 : 0) }
        }
    }
}
