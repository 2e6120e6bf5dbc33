import Foundation

/// The ggml tensor encodings a GGUF export writes, with their ids in the GGUF tensor table
/// (`GGMLQuantizationType` in llama.cpp's gguf-py/gguf/constants.py) and encoders that are
/// bit-for-bit those of gguf-py's `quants.py` (which itself matches ggml-quants.c).
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0
    case f16 = 1
    case q8_0 = 8
    case bf16 = 30

    /// Elements per block (32 for Q8_0, 1 for the float types).
    public var blockSize: Int { self == .q8_0 ? 32 : 1 }

    /// Bytes per block: Q8_0 is an fp16 scale followed by 32 int8 values.
    public var bytesPerBlock: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q8_0: return 2 + 32
        }
    }

    /// Bytes of `count` elements (`count` a multiple of `blockSize`).
    public func byteCount(elements count: Int) -> Int {
        precondition(count % blockSize == 0, "\(self): \(count) elements is not a whole number of blocks")
        return count / blockSize * bytesPerBlock
    }

    /// llama.cpp's `general.file_type` (`LlamaFileType`) for a file whose matrices use this type.
    public var fileType: UInt32 {
        switch self {
        case .f32: return 0   // ALL_F32
        case .f16: return 1   // MOSTLY_F16
        case .q8_0: return 7  // MOSTLY_Q8_0
        case .bf16: return 32 // MOSTLY_BF16
        }
    }

    /// Appends the encoding of `values` (a whole number of blocks) to `out`.
    public func encode(_ values: UnsafeBufferPointer<Float>, into out: inout [UInt8]) {
        switch self {
        case .f32:
            out.append(contentsOf: UnsafeRawBufferPointer(values))
        case .f16:
            out.reserveCapacity(out.count + values.count * 2)
            // Float16(x) rounds to nearest even, overflowing to ±inf, as numpy's astype(float16).
            for x in values { Self.appendLE(Float16(x).bitPattern, to: &out) }
        case .bf16:
            out.reserveCapacity(out.count + values.count * 2)
            for x in values { Self.appendLE(Self.bf16Bits(x), to: &out) }
        case .q8_0:
            out.reserveCapacity(out.count + values.count / 32 * 34)
            var start = 0
            while start < values.count {
                Self.appendQ8_0Block(UnsafeBufferPointer(rebasing: values[start..<start + 32]), to: &out)
                start += 32
            }
        }
    }

    /// ggml_compute_fp32_to_bf16: NaNs made quiet, others rounded to nearest even.
    static func bf16Bits(_ x: Float) -> UInt16 {
        let n = x.bitPattern
        if n & 0x7fff_ffff > 0x7f80_0000 { return UInt16((n & 0xffff_0000 | 64 << 16) >> 16) }
        return UInt16((UInt64(n) + UInt64(0x7fff + (n >> 16) & 1)) >> 16)
    }

    /// One Q8_0 block (ggml `quantize_row_q8_0_ref`): d = max|x| / 127 stored as fp16, q = round(x / d)
    /// with the fp32 d and halves away from zero (C `roundf`, gguf-py `np_roundf`).
    static func appendQ8_0Block(_ block: UnsafeBufferPointer<Float>, to out: inout [UInt8]) {
        var amax: Float = 0
        for x in block { amax = max(amax, abs(x)) }
        let d = amax / 127
        let inverse: Float = d == 0 ? 0 : 1 / d
        appendLE(Float16(d).bitPattern, to: &out)
        for x in block {
            out.append(UInt8(bitPattern: Int8((x * inverse).rounded(.toNearestOrAwayFromZero))))
        }
    }

    static func appendLE(_ value: UInt16, to out: inout [UInt8]) {
        out.append(UInt8(value & 0xff))
        out.append(UInt8(value >> 8))
    }
}
