import Foundation

extension SafeTensorsFile {
    /// Whether the file carries a data checksum (`SafeTensorsWriter.checksumKey`).
    public var hasChecksum: Bool { metadata[SafeTensorsWriter.checksumKey] != nil }

    /// Hashes the data section and compares it with the checksum in the metadata. Throws
    /// `checksumMismatch` naming the file when they differ, or when `required` and there is none.
    public func verifyChecksum(required: Bool = true) throws {
        guard let stored = metadata[SafeTensorsWriter.checksumKey] else {
            if required {
                throw WeightsError(.checksumMismatch, "\(path): no \(SafeTensorsWriter.checksumKey) checksum in the metadata")
            }
            return
        }
        let actual = SafeTensorsWriter.checksumText(dataSectionHash())
        guard actual == stored else {
            throw WeightsError(.checksumMismatch,
                               "\(path): data checksum \(actual) differs from the stored \(stored): the file is torn or damaged")
        }
    }

    /// XXH64 of the data section, hashed in 16 MB pieces whose mapped pages are given back as each
    /// is done. A snapshot is verified just before it is loaded into an arena of its own size: hashing
    /// the whole mapping at once left it all resident beside that arena (a resumed bf16 Gemma-3-270M
    /// run peaked at 1.20 GB against 0.73 GB fresh).
    func dataSectionHash() -> UInt64 {
        let data = dataSection, piece = 1 << 24
        var state = XXH64.State()
        var offset = 0
        while offset < data.count {
            let part = UnsafeRawBufferPointer(rebasing: data[offset..<min(offset + piece, data.count)])
            state.update(part)
            releaseWholePages(part.baseAddress!, bytes: part.count)
            offset += part.count
        }
        return state.digest()
    }
}
