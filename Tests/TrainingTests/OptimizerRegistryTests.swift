// The optimizer registry against the tables it replaced (ZerothOrderMethods' switches, the default
// lrs, ProfileMethod's enum): the same numbers for every optimizer, so deriving them changed nothing.
// And the setting rules at the values a user or a hand-edited file can give (0, −1, nan, inf, huge).

import Optimizers
import Training
import XCTest

final class OptimizerRegistryTests: XCTestCase {
    func testDerivedTablesAreThoseTheSwitchesHeld() {
        typealias O = TrainingConfig.Optimizer
        let lr: [O: Float] = [.mezo: 1e-6, .zoSign: 2e-5, .zoMomentum: 2e-7, .zoAdam: 2e-5, .zoCons: 2e-6, .fzoo: 5e-5,
                              .hizoo: 2e-6, .lozo: 1e-6, .sparseMezo: 2e-6, .sgd: 1e-4, .adamw: 1e-5]
        XCTAssertEqual(Set(O.allCases), Set(lr.keys))
        XCTAssertEqual(O.allCases.map(\.rawValue), ["mezo", "zo-sign", "zo-momentum", "zo-adam", "zo-cons", "fzoo", "hizoo", "lozo",
                                                    "sparse-mezo", "sgd", "adamw"])
        for o in O.allCases { XCTAssertEqual(o.defaultLR, lr[o], o.rawValue) }
        XCTAssertEqual(O.allCases.filter(\.usesBackprop), [.sgd, .adamw])

        let count = 1000, q = 4
        for o in O.allCases {
            guard let spec = o.zerothOrder else { continue }
            let forwards = [O.zoCons: 2 * q + 3, .fzoo: q + 1, .hizoo: 3, .lozo: 2][o] ?? 2 * q
            XCTAssertEqual(spec.forwards(q), forwards, o.rawValue)
            let state = [O.zoMomentum: 4 * count, .hizoo: 4 * count, .zoAdam: 8 * count, .sparseMezo: SparseMeZO.maskBytes(count: count)][o] ?? 0
            XCTAssertEqual(spec.stateBytes(arenaCount: count), state, o.rawValue)
            XCTAssertEqual(spec.hasState, [.zoMomentum, .zoAdam, .hizoo].contains(o), o.rawValue)
            XCTAssertEqual(spec.autoLR, [.mezo, .sparseMezo, .zoCons].contains(o), o.rawValue)
            XCTAssertEqual(spec.defaultEps, 1e-3, o.rawValue)
            XCTAssertEqual(spec.defaultPerturbations, o == .fzoo ? 8 : 1, o.rawValue)
        }
        XCTAssertEqual(TrainingConfig().lr, 1e-6)
        // MeZO's lr by the run's length (LRByLength.mezo): its registry lr is the rule's value at the
        // default --steps; an optimizer without a measured rule keeps its lr at every length.
        XCTAssertEqual(O.mezo.defaultLR(steps: TrainingConfig().steps), O.mezo.defaultLR)
        XCTAssertEqual([1, 1500, 1501, 3000, 3001, 20000].map { O.mezo.defaultLR(steps: $0) }, [2e-6, 2e-6, 1e-6, 1e-6, 5e-7, 5e-7])
        XCTAssertEqual(O.mezo.defaultLR(steps: nil), 5e-7)
        for o in O.allCases where o != .mezo {
            XCTAssertEqual(o.defaultLR(steps: 20000), o.defaultLR, o.rawValue)
            XCTAssertEqual(o.defaultLRText, "\(o.defaultLR)", o.rawValue)
        }
        XCTAssertEqual(O.mezo.defaultLRText, "by the run's length (2e-06 up to 1500 steps, 1e-06 up to 3000 steps, 5e-07 beyond or with --budget alone)")
        XCTAssertEqual(TrainingConfig().eps, 1e-3)
        XCTAssertEqual(O(rawValue: "lion"), nil)
    }

    func testProfileMethodsAreTheOptimizersAndTheirPEFTVariants() throws {
        let names = ["inference", "mezo", "zo-sign", "zo-momentum", "zo-adam", "zo-cons", "fzoo", "hizoo", "lozo", "sparse-mezo",
                     "sgd", "adamw", "lora-mezo", "lora-sgd", "lora-adamw", "prefix-mezo", "prefix-adamw"]
        XCTAssertEqual(ProfileMethod.allCases.map(\.rawValue), names)
        for name in names {
            let method = try XCTUnwrap(ProfileMethod(rawValue: name), name)
            XCTAssertEqual(method.rawValue, name)
            let decoded = try JSONDecoder().decode([ProfileMethod].self, from: JSONEncoder().encode([method]))
            XCTAssertEqual(decoded, [method])
        }
        XCTAssertEqual(ProfileMethod(rawValue: "lora-adamw")?.peft, .lora)
        XCTAssertEqual(ProfileMethod(rawValue: "prefix-mezo")?.optimizer, .mezo)
        XCTAssertNil(ProfileMethod(rawValue: "inference")?.optimizer)
        XCTAssertNil(ProfileMethod(rawValue: "lora-zo-adam"))
    }

    func testEveryRuleRefusesWhatCannotRunAndKeepsTheDefaults() {
        let defaults = TrainingConfig()
        for setting in OptimizerSetting.all {
            for bad in [Double.nan, .infinity, -.infinity, -1, 1e300] {
                XCTAssertNotNil(setting.rule.problem(bad), "\(setting.flag) accepts \(bad)")
            }
            if let value = setting.saved(defaults) {
                XCTAssertNil(setting.rule.problem(value), "\(setting.flag)'s default \(value) is refused")
            }
        }
        XCTAssertEqual(OptimizerSetting.lozoInterval.flagProblem(0), "--lozo-interval must be at least 1, not 0")
        XCTAssertEqual(OptimizerSetting.lozoRank.rule.problem(2.5), "must be a whole number, not 2.5")
        XCTAssertEqual(OptimizerSetting.sparseQuantile.rule.problem(0), "must be in (0, 1], not 0.0")
        XCTAssertNil(OptimizerSetting.sparseQuantile.rule.problem(1))
        XCTAssertEqual(OptimizerSetting.beta2.rule.problem(1), "must be in [0, 1), not 1.0")
        XCTAssertEqual(OptimizerSetting.eps.rule.problem(0), "must be positive and finite, not 0.0")
        XCTAssertNil(OptimizerSetting.lr.rule.problem(0))
        XCTAssertThrowsError(try OptimizerSetting.eps.check(0, file: "run/run.json")) {
            XCTAssertEqual("\($0)", "run/run.json: \"eps\" must be positive and finite, not 0.0")
        }
    }

    /// run.json's check: a config as `train` writes it passes; each optimizer's own limits are its spec's.
    func testRunConfigurationsAreCheckedAgainstTheirOptimizersSpec() throws {
        for o in TrainingConfig.Optimizer.allCases {
            var c = TrainingConfig()
            c.optimizer = o
            c.perturbations = o.zerothOrder?.defaultPerturbations ?? 1
            XCTAssertNoThrow(try OptimizerChecks.check(c, file: "run.json"), o.rawValue)
        }
        var hizoo = TrainingConfig()
        hizoo.optimizer = .hizoo
        hizoo.perturbations = 2
        XCTAssertThrowsError(try OptimizerChecks.check(hizoo, file: "run.json")) {
            XCTAssertEqual("\($0)", "run.json: \"perturbations\" --optimizer hizoo takes 1 perturbation per step, as its reference, not 2")
        }
        var auto = TrainingConfig()
        auto.optimizer = .lozo
        auto.lrAuto = TrainingConfig.AutoLR()
        XCTAssertThrowsError(try OptimizerChecks.check(auto, file: "run.json")) { XCTAssertTrue("\($0)".contains("\"lr_auto\""), "\($0)") }
        auto.optimizer = .mezo
        auto.lrAuto!.fraction = 0
        XCTAssertThrowsError(try OptimizerChecks.check(auto, file: "run.json")) {
            XCTAssertEqual("\($0)", "run.json: \"lr_auto.fraction\" must be positive and finite, not 0.0")
        }
    }
}
