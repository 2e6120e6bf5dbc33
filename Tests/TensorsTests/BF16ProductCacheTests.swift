// The oneDNN products are cached per shape, and the row count m changes with nearly every training
// batch and every packed evaluation pass. Kept without bound (and by oneDNN's own cache), they
// grew a bf16 MeZO run on Gemma-3-270M by ~0.9 MB a step, which put a 200-step run with dev
// evaluations 66 MB over issue 22's peak bound. Here: after products at 400 different m the cache
// holds at most its fixed few dozen, resident memory grows by less than 16 MB, and a shape made
// again after its eviction gives the same bits.

import Foundation
import Tensors
import XCTest

final class BF16ProductCacheTests: XCTestCase {
    /// VmRSS of this process from /proc/self/status, in bytes (read with stdio: the file's size
    /// is reported as 0 and changes while it is read).
    private func residentBytes() throws -> Int {
        let file = try XCTUnwrap(fopen("/proc/self/status", "r"))
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)   // (256) one line of the file
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(cString: line)
            guard text.hasPrefix("VmRSS:") else { continue }
            return try XCTUnwrap(Int(text.dropFirst(6).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").first ?? "")) * 1024
        }
        throw XCTSkip("no VmRSS in /proc/self/status")
    }

    func testCacheStaysBoundedOverManyRowCountsAndEvictionKeepsResults() throws {
        try XCTSkipUnless(BF16Linear.isSupported, "bf16 products need AVX512_BF16")
        let n = 256, k = 640, maxRows = 460
        let weights = UnsafeMutablePointer<Float>.allocate(capacity: n * k)        // (n, k)
        let input = UnsafeMutablePointer<Float>.allocate(capacity: maxRows * k)    // (maxRows, k)
        let output = UnsafeMutablePointer<Float>.allocate(capacity: maxRows * n)   // (maxRows, n)
        defer { weights.deallocate(); input.deallocate(); output.deallocate() }
        for i in 0..<(n * k) { weights[i] = Float((i * 7919) % 201 - 100) / 400 }
        for i in 0..<(maxRows * k) { input[i] = Float((i * 104729) % 199 - 99) / 300 }
        let w = BF16Matrix(weights, rows: n, columns: k)
        let linear = BF16Linear()
        func product(rows m: Int) -> [Float] {
            linear(input, w, output, m: m)
            return Array(UnsafeBufferPointer(start: output, count: m * n))
        }
        let first = product(rows: 7)
        for m in 8..<60 { _ = product(rows: m) }   // the cache fills; the scratch reaches its size below
        _ = product(rows: maxRows)
        let before = try residentBytes()
        for m in 60..<maxRows { _ = product(rows: m) }
        let grown = try residentBytes() - before
        print("400 row counts: resident +\(grown) bytes, \(BF16Linear.cachedProducts) products cached")
        XCTAssertLessThanOrEqual(BF16Linear.cachedProducts, 48, "the product cache must keep a fixed number of shapes")
        XCTAssertLessThan(grown, 16_000_000, "400 row counts grew the process by \(grown) bytes")
        XCTAssertEqual(product(rows: 7), first, "a product made again after its eviction must give the same bits")
    }
}
