import Foundation
import Optimizers
import TestSupport
import XCTest

@testable import Weights

/// Reading files written by Python's `safetensors` (fixtures from tools/fixtures/make_safetensors_fixture.py),
/// writing byte-identical files, and round trips.
final class SafeTensorsTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // WeightsTests
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Fixtures/safetensors")

    var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory
            .appendingPathComponent("zofinetune-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tempDir)
    }

    private func fixture(_ name: String) -> String {
        Self.fixtures.appendingPathComponent(name).path
    }

    private func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture(name)))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    private func ints(_ any: Any?) throws -> [Int] {
        try XCTUnwrap(any as? [Any]).map { try XCTUnwrap($0 as? Int) }
    }

    // MARK: - Python fixture: F32 / F16 / BF16 / I64

    func testReadsMixedFixtureWrittenByPython() throws {
        let file = try SafeTensorsFile(path: fixture("mixed.safetensors"))
        let expected = try json("mixed.json")
        let tensors = try XCTUnwrap(expected["tensors"] as? [String: Any])

        XCTAssertEqual(file.tensorNames, (Array(tensors.keys) + ["position_ids"]).sorted())
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "fixture"])
        XCTAssertEqual(tensors.count, 7)

        for (name, value) in tensors {
            let entry = try XCTUnwrap(value as? [String: Any])
            let info = try file.info(name)
            XCTAssertEqual(info.name, name)
            XCTAssertEqual(info.dtype.rawValue, entry["dtype"] as? String, name)
            XCTAssertEqual(info.shape, try ints(entry["shape"]), name)
            let bits = try ints(entry["bits"]).map { UInt32($0) }
            XCTAssertEqual(info.count, bits.count, name)
            XCTAssertEqual(info.dataOffsets.count, info.count * info.dtype.size, name)

            let got = try file.floats(name)
            // Bit patterns, so -0, ±inf, NaN and f16 subnormals are checked exactly.
            XCTAssertEqual(got.map(\.bitPattern), bits, name)
        }
        XCTAssertEqual(try file.info("scalar.f32").shape, [])
        XCTAssertEqual(try file.floats("scalar.f32"), [3.25])
        XCTAssertEqual(try file.floats("empty.f32"), [])
        let special = try file.floats("special.f16")
        XCTAssertEqual(special[4], 65504)  // f16 max
        XCTAssertEqual(special[6], 0x1p-24)  // smallest f16 subnormal
        XCTAssertEqual(special[7], .infinity)
        XCTAssertTrue(special[9].isNaN)
        XCTAssertEqual(special[1].sign, .minus)
    }

    func testI64TensorIsListedButNotReadableAsFloats() throws {
        let path = fixture("mixed.safetensors")
        let file = try SafeTensorsFile(path: path)
        XCTAssertTrue(file.tensorNames.contains("position_ids"))
        XCTAssertEqual(try file.storedDType("position_ids"), "I64")
        XCTAssertEqual(try file.storedShape("position_ids"), [1, 6])
        XCTAssertEqual(try file.storedDType("model.embed.weight"), "F32")
        assertWeightsError(.unsupportedDType, file: path, tensor: "position_ids") { _ = try file.info("position_ids") }
        assertWeightsError(.unsupportedDType, file: path, tensor: "position_ids") { _ = try file.floats("position_ids") }
    }

    func testWriterReproducesPythonBytesExactly() throws {
        let expected = try json("f32.json")
        let metadata = try XCTUnwrap(expected["metadata"] as? [String: String])
        let specs = try XCTUnwrap(expected["tensors"] as? [[String: Any]])
        // In Python's insertion order (not sorted): the writer must sort as Python does.
        let names = try specs.map { try XCTUnwrap($0["name"] as? String) }
        XCTAssertNotEqual(names, names.sorted(), "fixture should exercise sorting")
        let shapes = try specs.map { try ints($0["shape"]) }
        let values = try specs.map { try ints($0["bits"]).map { Float(bitPattern: UInt32($0)) } }

        let out = tempDir.appendingPathComponent("f32.safetensors").path
        try withBuffers(values) { buffers in
            let entries = zip(zip(names, shapes), buffers).map {
                SafeTensorsWriter.Entry(name: $0.0.0, shape: $0.0.1, data: $0.1)
            }
            try SafeTensorsWriter.write(path: out, entries: entries, metadata: metadata)
        }
        let ours = try Data(contentsOf: URL(fileURLWithPath: out))
        let theirs = try Data(contentsOf: URL(fileURLWithPath: fixture("f32.safetensors")))
        XCTAssertEqual(ours.count, theirs.count)
        XCTAssertEqual(ours, theirs, "header:\n\(headerText(ours))\nvs Python:\n\(headerText(theirs))")
    }

    // MARK: - Round trips

    func testRoundTripSeveralShapesAndMetadata() throws {
        var rng = SplitMix64(seed: 7)
        let shapes: [[Int]] = [[], [0], [1], [3], [4, 5], [2, 3, 4], [2, 1, 3, 5], [257, 129]]
        let names = ["scalar", "empty", "one", "bias", "matrix", "cube", "four.d", "model.layers.10.mlp.weight"]
        let values = shapes.map { shape in (0..<shape.reduce(1, *)).map { _ in rng.nextFloat() } }
        let metadata = ["format": "pt", "quote\"and\\slash/": "line\nbreak\ttab \u{1} ünïcødé ✓", "empty": ""]

        let path = tempDir.appendingPathComponent("round trip.safetensors").path
        try withBuffers(values) { buffers in
            let entries = (0..<shapes.count).map {
                SafeTensorsWriter.Entry(name: names[$0], shape: shapes[$0], data: buffers[$0])
            }
            try SafeTensorsWriter.write(path: path, entries: entries.reversed(), metadata: metadata)
        }

        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(file.tensorNames, names.sorted())
        XCTAssertEqual(file.metadata, metadata)
        for (i, name) in names.enumerated() {
            let info = try file.info(name)
            XCTAssertEqual(info.dtype, .f32)
            XCTAssertEqual(info.shape, shapes[i])
            XCTAssertEqual(info.count, values[i].count)
            XCTAssertEqual(info.fileOffset % 4, 0, "f32 data should be 4-aligned in our files")
            XCTAssertEqual(try file.floats(name), values[i], name)
            // read(into:) with the expected shape, into a buffer of exactly the right size.
            var out = [Float](repeating: .nan, count: values[i].count)
            try out.withUnsafeMutableBufferPointer { try file.read(name, into: $0, expectedShape: shapes[i]) }
            XCTAssertEqual(out, values[i], name)
        }
        // Data section starts 8-byte aligned, header padded with spaces.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual((8 + Int(headerLength)) % 8, 0)
        XCTAssertEqual(bytes.count, 8 + Int(headerLength) + values.map(\.count).reduce(0, +) * 4)
    }

    func testWriteReplacesFileAtomicallyAndLeavesNoTemporaries() throws {
        let path = tempDir.appendingPathComponent("model.safetensors").path
        let first: [Float] = [1, 2, 3]
        let second: [Float] = [9, 8]
        try first.withUnsafeBufferPointer {
            try SafeTensorsWriter.write(path: path, entries: [.init(name: "w", shape: [3], data: $0)])
        }
        try second.withUnsafeBufferPointer {
            try SafeTensorsWriter.write(path: path, entries: [.init(name: "w", shape: [2], data: $0)])
        }
        XCTAssertEqual(try SafeTensorsFile(path: path).floats("w"), second)

        // A failed write (invalid entries) leaves the previous file intact and no temporary behind.
        assertWeightsError(.invalidEntry, file: path, tensor: "w") {
            try first.withUnsafeBufferPointer {
                try SafeTensorsWriter.write(path: path, entries: [.init(name: "w", shape: [2, 2], data: $0)])
            }
        }
        assertWeightsError(.invalidEntry, file: path, tensor: "dup") {
            try first.withUnsafeBufferPointer {
                try SafeTensorsWriter.write(
                    path: path, entries: [.init(name: "dup", shape: [3], data: $0), .init(name: "dup", shape: [3], data: $0)])
            }
        }
        assertWeightsError(.invalidEntry, file: path, tensor: "__metadata__") {
            try first.withUnsafeBufferPointer {
                try SafeTensorsWriter.write(path: path, entries: [.init(name: "__metadata__", shape: [3], data: $0)])
            }
        }
        XCTAssertEqual(try SafeTensorsFile(path: path).floats("w"), second)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tempDir.path), ["model.safetensors"])

        // Unwritable destination folder: cannotWrite naming the file.
        let missing = tempDir.appendingPathComponent("no/such/dir/out.safetensors").path
        assertWeightsError(.cannotWrite, file: missing, tensor: nil) {
            try first.withUnsafeBufferPointer {
                try SafeTensorsWriter.write(path: missing, entries: [.init(name: "w", shape: [3], data: $0)])
            }
        }
    }

    /// A header whose length is not a multiple of 8 (legal) puts data at odd addresses.
    func testReadsUnalignedData() throws {
        let f32: [Float] = [1.5, -2, 1e-30, 3e38]
        let f16: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7BFF]  // 1, -2, smallest subnormal, 65504
        let bf16: [UInt16] = [0x3F80, 0xC0A0]  // 1, -5
        let header = #"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"#
            + #""b":{"dtype":"F16","shape":[4],"data_offsets":[16,24]},"#
            + #""c":{"dtype":"BF16","shape":[2],"data_offsets":[24,28]}}"#
        var data = Data()
        f32.forEach { withUnsafeBytes(of: $0.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        f16.forEach { withUnsafeBytes(of: $0.littleEndian) { data.append(contentsOf: $0) } }
        bf16.forEach { withUnsafeBytes(of: $0.littleEndian) { data.append(contentsOf: $0) } }
        let path = try writeRaw("unaligned.safetensors", header: header + " ", data: data)  // 8 + odd length
        let file = try SafeTensorsFile(path: path)
        XCTAssertNotEqual(try file.info("a").fileOffset % 4, 0)
        XCTAssertEqual(try file.floats("a"), f32)
        XCTAssertEqual(try file.floats("b"), [1, -2, 0x1p-24, 65504])
        XCTAssertEqual(try file.floats("c"), [1, -5])
        XCTAssertTrue(file.metadata.isEmpty)
    }

    // MARK: - Helpers

    func writeRaw(_ name: String, header: String, data: Data = Data(), headerLength: UInt64? = nil) throws -> String {
        var bytes = Data()
        let h = Data(header.utf8)
        withUnsafeBytes(of: (headerLength ?? UInt64(h.count)).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(h)
        bytes.append(data)
        let url = tempDir.appendingPathComponent(name)
        try bytes.write(to: url)
        return url.path
    }

    private func headerText(_ data: Data) -> String {
        let n = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        return String(decoding: data.dropFirst(8).prefix(n), as: UTF8.self)
    }

    private func withBuffers(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) throws -> Void) rethrows {
        // Copy into stable allocations so the pointers stay valid for the whole body.
        let storage = arrays.map { array -> UnsafeMutableBufferPointer<Float> in
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(array.count, 1))
            _ = b.initialize(from: array)
            return b
        }
        defer { storage.forEach { $0.deallocate() } }
        let buffers = zip(storage, arrays).map { UnsafeMutableBufferPointer(rebasing: $0.0[0..<$0.1.count]) }
        try body(buffers.map { UnsafeBufferPointer($0) })
    }
}

/// Asserts that `body` throws a `WeightsError` of `kind` whose message names the file (its last
/// path component at least) and, if given, the tensor.
func assertWeightsError(
    _ kind: WeightsError.Kind, file: String, tensor: String?, line: UInt = #line, _ body: () throws -> Void
) {
    do {
        try body()
        XCTFail("expected WeightsError.\(kind), nothing thrown", line: line)
    } catch let error as WeightsError {
        XCTAssertEqual(error.kind, kind, "message: \(error.message)", line: line)
        XCTAssertTrue(error.message.contains(file), "message lacks file path: \(error.message)", line: line)
        if let tensor {
            XCTAssertTrue(error.message.contains("'\(tensor)'"), "message lacks tensor: \(error.message)", line: line)
        }
        XCTAssertEqual(error.description, error.message, line: line)
    } catch {
        XCTFail("expected WeightsError.\(kind), got \(error)", line: line)
    }
}
