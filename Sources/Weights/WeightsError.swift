/// An error reading or writing a weights file. The message always names the file and, where one is
/// involved, the tensor, so a user can act on it without a debugger.
public struct WeightsError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Equatable, Sendable {
        /// The file does not exist or cannot be opened / mapped.
        case cannotOpen
        /// The file is shorter than the 8-byte header-length prefix.
        case truncated
        /// The header length is zero, larger than the file, or absurd (> 100 MB).
        case badHeaderLength
        /// The header is not valid JSON, not a JSON object, or `__metadata__` is not string → string.
        case badHeaderJSON
        /// A tensor entry lacks `dtype`, `shape` or `data_offsets`, or they have the wrong JSON types.
        case badEntry
        /// `data_offsets` are past the data section, reversed, or disagree with shape × dtype size.
        case badOffsets
        /// The `dtype` string is not a safetensors dtype at all.
        case unknownDType
        /// A valid safetensors dtype that cannot be read as floats (I64, BOOL, F64, ...).
        case unsupportedDType
        /// The requested tensor is not in the file.
        case missingTensor
        /// The tensor's shape differs from the shape the caller expects.
        case shapeMismatch
        /// The destination buffer's element count differs from the tensor's.
        case countMismatch
        /// A writer entry is invalid (duplicate or reserved name, data count ≠ shape product).
        case invalidEntry
        /// Writing, syncing or renaming the output file failed.
        case cannotWrite
        /// The same tensor name appears in two files of one model.
        case duplicateTensor
        /// A file holds a tensor that fills no parameter and is not explicitly ignored.
        case unexpectedTensor
        /// The data section does not hash to the checksum stored in the metadata (a torn or damaged file).
        case checksumMismatch
        /// A buffer too large for Int or refused by the system (names the tensor and the bytes).
        case cannotAllocate
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
