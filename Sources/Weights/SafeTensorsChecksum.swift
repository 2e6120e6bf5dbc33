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
        let actual = SafeTensorsWriter.checksumText(XXH64.hash(dataSection))
        guard actual == stored else {
            throw WeightsError(.checksumMismatch,
                               "\(path): data checksum \(actual) differs from the stored \(stored): the file is torn or damaged")
        }
    }
}
