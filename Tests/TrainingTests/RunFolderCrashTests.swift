import Foundation
import Models
import Optimizers
import Tensors
import TestSupport
import Training
import Weights
import XCTest

/// What a kill leaves in a run folder and what the next writer does with it: a damaged snapshot
/// is never read as good, stale temporaries go, a second writer is refused, corrupt (non-finite)
/// weights are never written, and an export never replaces a folder by accident.
final class RunFolderCrashTests: XCTestCase {
    var scratch: String!

    override class func setUp() { try! BLAS.load() }

    override func setUpWithError() throws {
        scratch = NSTemporaryDirectory() + "zofinetune-crash-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        addTeardownBlock { [scratch] in try? FileManager.default.removeItem(atPath: scratch!) }
    }

    func makeRun(steps: Int) throws -> (RunFolder, DecoderModel) { try makeTinyRun(at: scratch + "/run", steps: steps) }

    func testDamagedSnapshotCountsAsAbsentAndReplayRebuildsTheWeights() throws {
        let (run, trained) = try makeRun(steps: 12)
        try run.saveSnapshot("last", arena: trained.arena, steps: 12)
        XCTAssertEqual(run.snapshotSteps("last"), 12)
        // One byte of the data changed after the write (a torn page, a bad disk): same size, same header.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: run.snapshotPath("last")))
        bytes[bytes.count - 5] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: run.snapshotPath("last")))
        let reopened = try RunFolder(path: run.path)
        XCTAssertNil(reopened.snapshotSteps("last"), "a snapshot failing its checksum must not be used")
        let (replayed, steps) = try RunReplay.load(run: reopened, modelDirectory: nil, point: .last, threads: 2)
        XCTAssertEqual(steps, 12)
        XCTAssertTrue(bitwiseEqual(replayed.arena, trained.arena), "replay from the log must give the run's weights")
    }

    func testSecondWriterIsRefusedAndStaleTemporariesAreRemoved() throws {
        let (run, _) = try makeRun(steps: 1)
        // `create` holds the lock: another opening of the folder cannot write.
        let second = try RunFolder(path: run.path)
        XCTAssertThrowsError(try second.lockForWriting()) { error in
            XCTAssertTrue("\(error)".contains("in use by another zofinetune process (process \(getpid()))"), "\(error)")
        }
        // A temporary snapshot a SIGKILL left behind.
        let stale = AtomicFile.temporaryPath(for: run.snapshotPath("last"))
        FileManager.default.createFile(atPath: stale, contents: Data(repeating: 1, count: 1 << 16))
        let runPath = run.path
        _ = consume run   // the first writer ends: its lock goes with it
        let next = try RunFolder(path: runPath)
        XCTAssertEqual(try next.lockForWriting(), [stale])
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
    }

    func testNonFiniteWeightsAreNeverWritten() throws {
        let (run, model) = try makeRun(steps: 1)
        let slot = model.arena.slots[2]
        model.arena.buffer(slot)[3] = .nan
        XCTAssertThrowsError(try run.saveSnapshot("last", arena: model.arena, steps: 1)) { error in
            XCTAssertTrue("\(error)".contains("tensor '\(slot.name)' element 3 is not finite"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.snapshotPath("last")))
        model.arena.buffer(slot)[3] = -.infinity
        XCTAssertEqual(model.arena.firstNonFinite()?.0, slot.name)
    }

    func testExportRefusesANonEmptyFolderUnlessReplacing() throws {
        let (run, _) = try makeRun(steps: 1)
        let (model, _) = try RunReplay.load(run: run, modelDirectory: nil, point: .last, threads: 2)
        let base = Repo.fixture("tiny-gemma3")
        let out = scratch + "/export"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try HuggingFaceExport.write(arena: model.arena, baseDirectory: base, to: out)   // an empty folder is fine
        XCTAssertNotNil(HuggingFaceExport.refusal(out: out))
        XCTAssertThrowsError(try HuggingFaceExport.write(arena: model.arena, baseDirectory: base, to: out)) { error in
            XCTAssertTrue("\(error)".contains("not empty") && "\(error)".contains("--force"), "\(error)")
        }
        try Data("keep?".utf8).write(to: URL(fileURLWithPath: out + "/extra.txt"))
        // A staging folder of an export killed earlier (its process is gone: pid 2^22 - 1 is unused here).
        let abandoned = scratch + "/.export.tmp-4194303-1"
        try FileManager.default.createDirectory(atPath: abandoned, withIntermediateDirectories: true)
        try HuggingFaceExport.write(arena: model.arena, baseDirectory: base, to: out, replace: true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/extra.txt"), "--force replaces the folder")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: abandoned))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch).filter { $0.contains(".tmp-") }, [])
    }

    private func bitwiseEqual(_ a: ParameterArena, _ b: ParameterArena) -> Bool {
        zip(a.slots, b.slots).allSatisfy { sa, sb in
            zip(a.buffer(sa), b.buffer(sb)).allSatisfy { $0.bitPattern == $1.bitPattern }
        }
    }
}
