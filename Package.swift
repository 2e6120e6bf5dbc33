// swift-tools-version:6.0
import PackageDescription

// Kernels are compiled for the machine that builds them: without -target-cpu, Swift emits
// baseline x86-64 (SSE2) and the SIMD loops in Tensors/Optimizers run at a fraction of speed.
// The kernels (Tensors, Optimizers) drop bounds and overflow checks (-Ounchecked): their callers
// establish the invariants. Everything above keeps its checks (-O), so a precondition on bad
// input still stops cleanly instead of reading out of bounds.
let hostCPU: [SwiftSetting] = [
    .unsafeFlags(["-O", "-Xcc", "-march=native", "-target-cpu", "native"])
]
let hostCPUKernels: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-Xcc", "-march=native", "-target-cpu", "native"])
]
let hostCPUC: [CSetting] = [.unsafeFlags(["-O3", "-march=native"])]

let package = Package(
    name: "zofinetune",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "zofinetune", targets: ["zofinetune"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // CSV with real quoting (RFC 4180: commas, quotes and newlines inside fields) for task data.
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
        // YAML run configurations (train --config run.yaml).
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // OpenBLAS, opened at run time so the right CPU kernel can be chosen first (see CBLAS/blas.c).
        .target(name: "CBLAS", cSettings: hostCPUC, linkerSettings: [.linkedLibrary("dl")]),
        // Open MPI, opened at run time only for --distributed (see CMPI/include/zf_mpi.h): the
        // package builds, and the single-process CLI runs, on machines without Open MPI.
        .target(name: "CMPI", linkerSettings: [.linkedLibrary("dl")]),
        // Ranks and collectives over CMPI; one process is rank 0 of 1 without MPI.
        .target(name: "Cluster", dependencies: ["CMPI"], swiftSettings: hostCPU),
        // bf16 matrix products through oneDNN (see CDNNL/include/zf_bf16.h).
        .target(name: "CDNNL", cSettings: hostCPUC, linkerSettings: [.linkedLibrary("dnnl")]),
        // C API over SentencePiece's C++ library.
        .target(
            name: "CSentencePiece",
            cxxSettings: [.unsafeFlags(["-O2", "-std=c++17"])],
            linkerSettings: [.linkedLibrary("sentencepiece"), .linkedLibrary("stdc++")]
        ),
        .target(name: "Tensors", dependencies: ["CBLAS", "CDNNL"], swiftSettings: hostCPUKernels),
        // One JSON string-literal rule for the safetensors header and chat templates' tojson.
        .target(name: "JSONStrings", swiftSettings: hostCPU),
        .target(name: "Weights", dependencies: ["Tensors", "JSONStrings"], swiftSettings: hostCPU),
        .target(name: "Models", dependencies: ["Tensors", "Weights"], swiftSettings: hostCPU),
        .target(name: "Tokenizers", dependencies: ["CSentencePiece"], swiftSettings: hostCPU),
        // The Jinja subset chat templates are written in (lexer, parser, evaluator), with no dependency
        // but the JSON string rule.
        .target(name: "ChatTemplates", dependencies: ["JSONStrings"], swiftSettings: hostCPU),
        .target(
            name: "Tasks", dependencies: ["Tokenizers", "ChatTemplates", .product(name: "SwiftCSV", package: "SwiftCSV")],
            resources: [.copy("BuiltinTasks")], swiftSettings: hostCPU),
        .target(name: "Optimizers", dependencies: ["Tensors", "Weights"], swiftSettings: hostCPUKernels),
        .target(name: "Profiling", dependencies: ["Tensors"], swiftSettings: hostCPU),
        .target(
            name: "Training",
            dependencies: ["Tensors", "Weights", "Models", "Tokenizers", "Tasks", "Optimizers", "Profiling", "Cluster"],
            swiftSettings: hostCPU),
        .executableTarget(
            name: "zofinetune",
            dependencies: [
                "Tensors", "Weights", "Models", "Tokenizers", "Tasks", "Optimizers", "Training", "Profiling", "Cluster", "ChatTemplates",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: hostCPU
        ),
        // Paths to fixtures, the real model and SST-2, shared by the test targets.
        .target(name: "TestSupport", dependencies: ["Optimizers", "Models", "Weights"], path: "Tests/TestSupport"),
        // The fuzz targets over the real readers (Tests/Fuzz): run by libFuzzer (zofinetune-fuzz,
        // below) and replayed on the committed seeds and crash inputs by TrainingTests.
        .target(name: "FuzzSupport", dependencies: ["Weights", "Models", "Tokenizers", "Tasks", "Training"],
                path: "Tests/Fuzz/FuzzSupport", swiftSettings: hostCPU),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "Optimizers", "TestSupport"], swiftSettings: hostCPU),
        .testTarget(name: "WeightsTests", dependencies: ["Weights", "Optimizers", "Profiling", "TestSupport"], swiftSettings: hostCPU),
        .testTarget(
            name: "ModelsTests", dependencies: ["TestSupport", "Optimizers", "Models", "Weights", "Tensors", "Tokenizers", "Tasks"],
            swiftSettings: hostCPU),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "TestSupport"], swiftSettings: hostCPU),
        .testTarget(name: "ChatTemplatesTests", dependencies: ["ChatTemplates"], swiftSettings: hostCPU),
        .testTarget(name: "TasksTests", dependencies: ["Tasks", "Tokenizers", "ChatTemplates", "TestSupport"], swiftSettings: hostCPU),
        .testTarget(
            name: "TrainingTests", dependencies: ["TestSupport", "FuzzSupport", "Training", "Models", "Tasks", "Tokenizers", "Tensors", "Weights", "Optimizers", "ChatTemplates"],
            swiftSettings: hostCPU),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "Weights", "TestSupport"], swiftSettings: hostCPU),
        .testTarget(name: "CLITests", dependencies: ["zofinetune", "TestSupport"], swiftSettings: hostCPU),
    ],
    swiftLanguageModes: [.v5]
)

// The libFuzzer executable, only when asked for: libFuzzer supplies its main, so a plain build
// would not link it. tools/check/fuzz.sh builds it with -sanitize=fuzzer,address in .build-fuzz.
if Context.environment["ZOFINETUNE_FUZZ"] == "1" {
    package.targets.append(.executableTarget(
        name: "zofinetune-fuzz", dependencies: ["FuzzSupport"], path: "Tests/Fuzz/FuzzTargets", swiftSettings: hostCPU))
}
