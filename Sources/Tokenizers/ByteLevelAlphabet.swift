// GPT-2's byte-level alphabet (`bytes_to_unicode` in openai/gpt-2's encoder.py, `ByteLevel` in the
// tokenizers library): every byte 0…255 stands for one printable Unicode scalar, so a byte-level
// BPE vocabulary can spell any UTF-8 text with 256 base pieces and no unknown token.
//
// The printable Latin-1 bytes ('!'…'~', '¡'…'¬', '®'…'ÿ') stand for themselves; the other 68 bytes
// (controls, space, soft hyphen…) take U+0100, U+0101, … in byte order. So " " (0x20) is "Ġ"
// (U+0120) and "\n" (0x0A) is "Ċ" (U+010A), the letters every such vocabulary is full of.

/// The byte ↔ scalar table of byte-level BPE vocabularies.
public enum ByteLevelAlphabet {
    /// The scalar that stands for each byte. (256)
    public static let scalarForByte: [Unicode.Scalar] = {
        var printable = Array(UInt32(0x21)...UInt32(0x7E)) + Array(UInt32(0xA1)...UInt32(0xAC)) + Array(UInt32(0xAE)...UInt32(0xFF))
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        for byte in printable { table[Int(byte)] = Unicode.Scalar(byte)! }
        printable.sort()
        var next: UInt32 = 256
        for byte in 0..<256 where !printable.contains(UInt32(byte)) {
            table[byte] = Unicode.Scalar(next)!
            next += 1
        }
        return table
    }()

    /// The byte each alphabet scalar stands for (the inverse of `scalarForByte`).
    public static let byteForScalar: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (byte, scalar) in scalarForByte.enumerated() { map[scalar] = UInt8(byte) }
        return map
    }()

    /// The alphabet spelling of `bytes` ("Ġgreat" for the UTF-8 of " great").
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var text = String.UnicodeScalarView()
        for byte in bytes { text.append(scalarForByte[Int(byte)]) }
        return String(text)
    }

    /// The bytes a vocabulary piece stands for, or nil if one of its scalars is not in the alphabet
    /// (an added token such as "<|im_start|>" is all printable ASCII and so is in it; one with a
    /// space or a CJK character is not, and decodes as its own UTF-8, as the tokenizers library does).
    public static func decode(_ piece: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(piece.unicodeScalars.count)
        for scalar in piece.unicodeScalars {
            guard let byte = byteForScalar[scalar] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
