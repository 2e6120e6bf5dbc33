import Foundation
import FuzzSupport
import TestSupport
import XCTest

/// The committed fuzz seeds and every input that once crashed a reader (Tests/Fuzz/crashes),
/// through the same target code libFuzzer runs (FuzzSupport): each must end without a crash.
/// (The libFuzzer run itself needs a 5-minute sanitizer build: tools/check/fuzz.sh, not CI.)
final class FuzzCorpusReplayTests: XCTestCase {
    func testSeedsAndCrashInputsRunWithoutACrash() throws {
        let fm = FileManager.default
        var replayed = 0
        for (name, target) in fuzzTargets.sorted(by: { $0.key < $1.key }) {
            for folder in ["seeds", "crashes"] {
                let dir = Repo.root + "/Tests/Fuzz/\(folder)/\(name)"
                for file in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() {
                    guard let bytes = fm.contents(atPath: dir + "/" + file) else { continue }
                    target(bytes)
                    replayed += 1
                }
            }
            XCTAssertTrue(fm.fileExists(atPath: Repo.root + "/Tests/Fuzz/seeds/\(name)"), "no seeds for fuzz target \(name)")
        }
        try? fm.removeItem(atPath: fuzzScratch)
        XCTAssertGreaterThan(replayed, 40)
        // The run.replay seeds are real runs: the zeroth-order ones (12 of 15) replay at .last, .best
        // and step 1; the sgd/adamw seeds have no snapshots to load, so they are refused.
        XCTAssertGreaterThanOrEqual(fuzzReplaysCompleted, 12 * 3, "the run.replay seeds must be replayed, not refused")
        print("replayed \(replayed) fuzz seeds and crash inputs")
    }
}
