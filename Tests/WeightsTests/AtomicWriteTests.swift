import Foundation
import XCTest

import Profiling
@testable import Weights

/// Atomic writes (temporary file, fsync, rename, fsync of the folder), stale temporaries, and
/// the XXH64 checksum that marks a snapshot's data as whole.
final class AtomicWriteTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("zf-atomic-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        addTeardownBlock { [folder] in try? FileManager.default.removeItem(atPath: folder!) }
    }

    /// Vectors from the reference library (libxxhash 0.8.1 through ctypes: XXH64(bytes, len, seed)).
    func testXXH64MatchesTheReferenceLibrary() {
        let cases: [([UInt8], UInt64, UInt64)] = [
            ([], 0, 0xEF46_DB37_51D8_E999), (Array("a".utf8), 0, 0xD24E_C4F1_A98C_6E5B),
            (Array("abc".utf8), 0, 0x44BC_2CF5_AD77_0999), (Array(0..<100), 0, 0x6AC1_E580_3216_6597),
            ((0..<1000).map { UInt8($0 * 7 % 251) }, 0, 0x023F_D2ED_1FF9_57D5), (Array(0..<37), 123_456_789, 0x5E97_A4FF_795B_3FD1),
        ]
        for (bytes, seed, expected) in cases {
            XCTAssertEqual(bytes.withUnsafeBytes { XXH64.hash($0, seed: seed) }, expected, "\(bytes.count) bytes, seed \(seed)")
        }
        // Streaming in uneven pieces gives the hash of the whole.
        let long = (0..<1000).map { UInt8($0 * 7 % 251) }
        var state = XXH64.State()
        var start = 0
        for piece in [1, 5, 31, 32, 33, 100, 3, 795] {
            long[start..<start + piece].withUnsafeBytes { state.update($0) }
            start += piece
        }
        XCTAssertEqual(state.digest(), 0x023F_D2ED_1FF9_57D5)
    }

    func testWriteReplacesWholeFileAndLeavesNoTemporary() throws {
        let path = folder + "/run.json"
        try AtomicFile.write(Data("old".utf8), to: path)
        try AtomicFile.write(Data("new contents".utf8), to: path)
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data("new contents".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["run.json"])
    }

    func testFailedWriteKeepsTheOldVersionAndRemovesItsTemporary() throws {
        let path = folder + "/log.jsonl"
        try AtomicFile.write(Data("old".utf8), to: path)
        struct Interrupted: Error {}
        XCTAssertThrowsError(try AtomicFile.write(path: path) { fd in
            try Data("half".utf8).withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
            throw Interrupted()
        })
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data("old".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["log.jsonl"])
    }

    func testStaleTemporariesAreFoundAndRemoved() throws {
        // What a SIGKILL during a snapshot write leaves: the temporary file, never renamed.
        let stale = AtomicFile.temporaryPath(for: folder + "/weights-last.safetensors")
        FileManager.default.createFile(atPath: stale, contents: Data(repeating: 7, count: 4096))
        try AtomicFile.write(Data("{}".utf8), to: folder + "/run.json")
        XCTAssertTrue((stale as NSString).lastPathComponent.hasPrefix(".weights-last.safetensors.tmp-"))
        XCTAssertEqual(try AtomicFile.removeStaleTemporaries(in: folder), [stale])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["run.json"])
    }

    func testChecksumCatchesATornOrFlippedSnapshot() throws {
        let values: [Float] = (0..<1000).map { Float($0) * 0.5 }
        let path = folder + "/weights-last.safetensors"
        try values.withUnsafeBufferPointer { buffer in
            try SafeTensorsWriter.write(path: path, entries: [.init(name: "w", shape: [1000], data: buffer)],
                                        metadata: ["steps": "3"], checksum: true)
        }
        let good = try SafeTensorsFile(path: path)
        XCTAssertTrue(good.hasChecksum)
        XCTAssertNoThrow(try good.verifyChecksum())

        // One flipped bit in the data.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 10] ^= 0x01
        let flipped = folder + "/flipped.safetensors"
        try bytes.write(to: URL(fileURLWithPath: flipped))
        XCTAssertThrowsError(try SafeTensorsFile(path: flipped).verifyChecksum()) { error in
            XCTAssertEqual((error as? WeightsError)?.kind, .checksumMismatch)
            XCTAssertTrue("\(error)".contains(flipped), "\(error)")
        }
        // A file whose data was never fully written (the header promises more bytes) is refused on open.
        let torn = folder + "/torn.safetensors"
        try Data(contentsOf: URL(fileURLWithPath: path)).prefix(2000).write(to: URL(fileURLWithPath: torn))
        XCTAssertThrowsError(try SafeTensorsFile(path: torn))
        // Files written without a checksum (exports, older snapshots) pass unless one is required.
        let plain = folder + "/plain.safetensors"
        try values.withUnsafeBufferPointer { buffer in
            try SafeTensorsWriter.write(path: plain, entries: [.init(name: "w", shape: [1000], data: buffer)])
        }
        XCTAssertNoThrow(try SafeTensorsFile(path: plain).verifyChecksum(required: false))
        XCTAssertThrowsError(try SafeTensorsFile(path: plain).verifyChecksum(required: true))
    }

    /// Verifying a snapshot reads every byte of its mapping. The pages must be given back as they
    /// are hashed: a resumed run verifies the snapshot just before loading it into an arena of the
    /// same size, and holding both once raised a bf16 Gemma-3-270M resume's peak from 0.73 to 1.20 GB.
    func testVerifyingAChecksumGivesTheMappedPagesBack() throws {
        let values = [Float](repeating: 0.25, count: 16 << 20)   // [16Mi] f32: 64 MB of data
        let path = folder + "/weights-last.safetensors"
        try values.withUnsafeBufferPointer { buffer in
            try SafeTensorsWriter.write(path: path, entries: [.init(name: "w", shape: [values.count], data: buffer)],
                                        metadata: [:], checksum: true)
        }
        let file = try SafeTensorsFile(path: path)
        let before = try XCTUnwrap(ProcessMemory.residentFileBytes, "no RssFile in /proc/self/status")
        try file.verifyChecksum()
        let grown = try XCTUnwrap(ProcessMemory.residentFileBytes) - before
        XCTAssertLessThan(grown, 8 << 20, "verifying a 64 MB file left \(grown >> 20) MB of it resident")
        // Hashing in pieces is the hash of the whole.
        XCTAssertEqual(file.dataSectionHash(), XXH64.hash(file.dataSection))
    }
}
