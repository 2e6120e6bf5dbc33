import Foundation
import XCTest

@testable import Weights

/// One test per way a safetensors file can be broken: each checks the error kind and that the
/// message names the file and, when one is involved, the tensor.
final class SafeTensorsMalformedTests: XCTestCase {
    var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory
            .appendingPathComponent("zofinetune-malformed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tempDir)
    }

    private func write(_ name: String, header: String, dataBytes: Int = 0, headerLength: UInt64? = nil) throws
        -> String
    {
        var bytes = Data()
        let h = Data(header.utf8)
        withUnsafeBytes(of: (headerLength ?? UInt64(h.count)).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(h)
        bytes.append(Data(repeating: 0, count: dataBytes))
        let url = tempDir.appendingPathComponent(name)
        try bytes.write(to: url)
        return url.path
    }

    private func open(_ path: String) throws { _ = try SafeTensorsFile(path: path) }

    func testMissingFileCannotOpen() {
        let path = tempDir.appendingPathComponent("absent.safetensors").path
        assertWeightsError(.cannotOpen, file: path, tensor: nil) { try open(path) }
    }

    func testTruncatedFileShorterThanLengthPrefix() throws {
        let path = tempDir.appendingPathComponent("five-bytes.safetensors")
        try Data([1, 2, 3, 4, 5]).write(to: path)
        assertWeightsError(.truncated, file: path.path, tensor: nil) { try open(path.path) }

        let empty = tempDir.appendingPathComponent("empty.safetensors")
        try Data().write(to: empty)
        assertWeightsError(.truncated, file: empty.path, tensor: nil) { try open(empty.path) }
    }

    func testTruncatedDataSectionNamesTheTensor() throws {
        // A download cut short: the header promises 24 bytes of "w.cut", the file has 10.
        let path = try write(
            "cut.safetensors", header: #"{"w.cut":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}}"#, dataBytes: 10)
        assertWeightsError(.badOffsets, file: path, tensor: "w.cut") { try open(path) }
        do { try open(path) } catch { XCTAssertTrue("\(error)".contains("truncated"), "\(error)") }
    }

    func testBadHeaderJSON() throws {
        let path = try write("badjson.safetensors", header: #"{"w": {"dtype": "F32", "shape": [1],"#)
        assertWeightsError(.badHeaderJSON, file: path, tensor: nil) { try open(path) }

        let array = try write("array.safetensors", header: #"[1, 2, 3]"#)
        assertWeightsError(.badHeaderJSON, file: array, tensor: nil) { try open(array) }

        let meta = try write("meta.safetensors", header: #"{"__metadata__":{"epochs":3}}"#)
        assertWeightsError(.badHeaderJSON, file: meta, tensor: nil) { try open(meta) }
    }

    func testEntryMissingFieldsNamesTheTensor() throws {
        let cases = [
            ("no-dtype", #"{"w.nodtype":{"shape":[1],"data_offsets":[0,4]}}"#, "w.nodtype"),
            ("no-shape", #"{"w.noshape":{"dtype":"F32","data_offsets":[0,4]}}"#, "w.noshape"),
            ("no-offsets", #"{"w.nooffsets":{"dtype":"F32","shape":[1]}}"#, "w.nooffsets"),
            ("bad-shape", #"{"w.badshape":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, "w.badshape"),
            ("float-shape", #"{"w.floatshape":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, "w.floatshape"),
            ("not-object", #"{"w.scalar":7}"#, "w.scalar"),
        ]
        for (file, header, tensor) in cases {
            let path = try write("\(file).safetensors", header: header, dataBytes: 4)
            assertWeightsError(.badEntry, file: path, tensor: tensor) { try open(path) }
        }
    }

    func testHeaderLengthPastEndOfFile() throws {
        let header = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        let path = try write("pasteof.safetensors", header: header, dataBytes: 4, headerLength: 10_000)
        assertWeightsError(.badHeaderLength, file: path, tensor: nil) { try open(path) }

        let absurd = try write("absurd.safetensors", header: header, dataBytes: 4, headerLength: 1 << 40)
        assertWeightsError(.badHeaderLength, file: absurd, tensor: nil) { try open(absurd) }

        let zero = try write("zero.safetensors", header: header, dataBytes: 4, headerLength: 0)
        assertWeightsError(.badHeaderLength, file: zero, tensor: nil) { try open(zero) }
    }

    func testOffsetsOutOfRange() throws {
        let path = try write(
            "range.safetensors", header: #"{"w.far":{"dtype":"F32","shape":[2],"data_offsets":[100,108]}}"#, dataBytes: 8)
        assertWeightsError(.badOffsets, file: path, tensor: "w.far") { try open(path) }

        let reversed = try write(
            "reversed.safetensors", header: #"{"w.rev":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, dataBytes: 8)
        assertWeightsError(.badOffsets, file: reversed, tensor: "w.rev") { try open(reversed) }

        // Byte length disagrees with shape × dtype size (3 F16 = 6 bytes, not 8).
        let length = try write(
            "length.safetensors", header: #"{"w.len":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}"#, dataBytes: 8)
        assertWeightsError(.badOffsets, file: length, tensor: "w.len") { try open(length) }

        let negative = try write(
            "negative.safetensors", header: #"{"w.neg":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#,
            dataBytes: 8)
        assertWeightsError(.badOffsets, file: negative, tensor: "w.neg") { try open(negative) }
    }

    func testUnknownDType() throws {
        let path = try write(
            "dtype.safetensors", header: #"{"w.odd":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 8)
        assertWeightsError(.unknownDType, file: path, tensor: "w.odd") { try open(path) }
        do { try open(path) } catch { XCTAssertTrue("\(error)".contains("Q4_K"), "\(error)") }

        // A real but non-float dtype parses, is listed, and refuses to be read as floats.
        let ints = try write(
            "ints.safetensors", header: #"{"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#, dataBytes: 16)
        let file = try SafeTensorsFile(path: ints)
        XCTAssertEqual(file.tensorNames, ["ids"])
        var out = [Float](repeating: 0, count: 2)
        assertWeightsError(.unsupportedDType, file: ints, tensor: "ids") {
            try out.withUnsafeMutableBufferPointer { try file.read("ids", into: $0) }
        }
    }

    func testMissingTensor() throws {
        let path = try write(
            "missing.safetensors", header: #"{"present":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4)
        let file = try SafeTensorsFile(path: path)
        assertWeightsError(.missingTensor, file: path, tensor: "model.absent.weight") {
            _ = try file.info("model.absent.weight")
        }
        assertWeightsError(.missingTensor, file: path, tensor: "model.absent.weight") {
            _ = try file.floats("model.absent.weight")
        }
        assertWeightsError(.missingTensor, file: path, tensor: "model.absent.weight") {
            _ = try file.storedDType("model.absent.weight")
        }
    }

    func testShapeMismatchNamesBothShapes() throws {
        let path = try write(
            "shape.safetensors", header: #"{"w.q":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}"#, dataBytes: 24)
        let file = try SafeTensorsFile(path: path)
        var out = [Float](repeating: 0, count: 6)
        assertWeightsError(.shapeMismatch, file: path, tensor: "w.q") {
            try out.withUnsafeMutableBufferPointer { try file.read("w.q", into: $0, expectedShape: [3, 2]) }
        }
        do {
            try out.withUnsafeMutableBufferPointer { try file.read("w.q", into: $0, expectedShape: [3, 2]) }
        } catch {
            XCTAssertTrue("\(error)".contains("[2, 3]") && "\(error)".contains("[3, 2]"), "\(error)")
        }
        // Destination of the wrong size.
        var small = [Float](repeating: 0, count: 5)
        assertWeightsError(.countMismatch, file: path, tensor: "w.q") {
            try small.withUnsafeMutableBufferPointer { try file.read("w.q", into: $0) }
        }
        // The right shape reads fine.
        try out.withUnsafeMutableBufferPointer { try file.read("w.q", into: $0, expectedShape: [2, 3]) }
        XCTAssertEqual(out, [0, 0, 0, 0, 0, 0])
    }
}
