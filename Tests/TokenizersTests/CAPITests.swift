// The C API contract the Swift wrapper relies on: retry codes with the needed size, NULL
// handling, and per-thread status messages.

import CSentencePiece
import Foundation
import XCTest

final class CAPITests: XCTestCase {
    private var handle: OpaquePointer!

    override func setUpWithError() throws {
        let path = try SmallModel.path.get()
        var loaded: OpaquePointer?
        XCTAssertEqual(zf_spm_load(path, &loaded), ZF_SPM_OK)
        handle = try XCTUnwrap(loaded)
    }

    override func tearDown() { if let handle { zf_spm_free(handle) } }

    func testEncodeReportsNeededCountWhenBufferIsTooSmall() {
        let text = "a gorgeous , witty , seductive movie ."
        var count = 0
        var one: Int32 = -7
        XCTAssertEqual(zf_spm_encode(handle, text, text.utf8.count, &one, 1, &count), ZF_SPM_BUFFER_TOO_SMALL)
        XCTAssertEqual(one, -7, "nothing written on BUFFER_TOO_SMALL")
        XCTAssertGreaterThan(count, 1)
        XCTAssertTrue(String(cString: zf_spm_status_message()).contains("do not fit"))
        var ids = [Int32](repeating: -1, count: count)
        var second = 0
        XCTAssertEqual(zf_spm_encode(handle, text, text.utf8.count, &ids, ids.count, &second), ZF_SPM_OK)
        XCTAssertEqual(second, count)
        XCTAssertFalse(ids.contains(-1))
        // Capacity 0 with a NULL buffer is the documented "how many?" query.
        XCTAssertEqual(zf_spm_encode(handle, text, text.utf8.count, nil, 0, &second), ZF_SPM_BUFFER_TOO_SMALL)
        XCTAssertEqual(second, count)
    }

    func testIdToPieceReportsNeededLength() {
        var length = 0
        var buffer = [CChar](repeating: 0, count: 2)
        // "<unk>" needs 5 bytes + NUL.
        XCTAssertEqual(zf_spm_id_to_piece(handle, 0, &buffer, buffer.count, &length), ZF_SPM_BUFFER_TOO_SMALL)
        XCTAssertEqual(length, 5)
        buffer = [CChar](repeating: 0, count: length + 1)
        XCTAssertEqual(zf_spm_id_to_piece(handle, 0, &buffer, buffer.count, &length), ZF_SPM_OK)
        XCTAssertEqual(String(cString: buffer), "<unk>")
        XCTAssertEqual(zf_spm_id_to_piece(handle, -3, &buffer, buffer.count, &length), ZF_SPM_OUT_OF_RANGE)
    }

    func testNullArgumentsAreInvalidArgumentNotCrashes() {
        var count = 0
        var id: Int32 = 0
        var out: UnsafeMutablePointer<CChar>?
        var length = 0
        var processor: OpaquePointer?
        XCTAssertEqual(zf_spm_encode(nil, "a", 1, nil, 0, &count), ZF_SPM_INVALID_ARGUMENT)
        XCTAssertEqual(zf_spm_encode(handle, nil, 3, nil, 0, &count), ZF_SPM_INVALID_ARGUMENT)
        XCTAssertEqual(zf_spm_decode(handle, nil, 2, &out, &length), ZF_SPM_INVALID_ARGUMENT)
        XCTAssertNil(out)
        XCTAssertEqual(zf_spm_piece_to_id(nil, "a", 1, &id), ZF_SPM_INVALID_ARGUMENT)
        XCTAssertEqual(zf_spm_load(nil, &processor), ZF_SPM_INVALID_ARGUMENT)
        XCTAssertNil(processor)
        XCTAssertEqual(zf_spm_vocab_size(nil), 0)
        XCTAssertEqual(zf_spm_bos_id(nil), -1)
        XCTAssertEqual(zf_spm_is_control(nil, 1), 0)
        zf_spm_free(nil)
        zf_spm_string_free(nil)
    }

    func testLoadFailureMapsSentencePieceStatus() {
        var processor: OpaquePointer?
        let missing = "/nonexistent/zf/tokenizer.model"
        // sentencepiece reports a missing file as util::StatusCode::kNotFound (5).
        XCTAssertEqual(zf_spm_load(missing, &processor), ZF_SPM_NOT_FOUND)
        XCTAssertNil(processor)
        XCTAssertTrue(String(cString: zf_spm_status_message()).contains(missing))
    }

    func testStatusMessagesAreThreadLocal() {
        var count = 0
        var one: Int32 = 0
        XCTAssertEqual(zf_spm_encode(handle, "a b c d e f", 11, &one, 1, &count), ZF_SPM_BUFFER_TOO_SMALL)
        let here = String(cString: zf_spm_status_message())
        XCTAssertTrue(here.contains("do not fit"), here)
        // Another thread fails differently; our message must survive and theirs must be theirs.
        nonisolated(unsafe) let shared = handle
        nonisolated(unsafe) var there = ""
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var id: Int32 = 0
            if zf_spm_piece_to_id(shared, "zzz-not-a-piece", 15, &id) == ZF_SPM_NOT_FOUND {
                there = String(cString: zf_spm_status_message())
            }
            done.signal()
        }
        done.wait()
        XCTAssertTrue(there.contains("zzz-not-a-piece"), there)
        XCTAssertEqual(String(cString: zf_spm_status_message()), here)
    }
}
