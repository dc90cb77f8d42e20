// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Tally",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Tally", targets: ["Tally"]),
        .executable(name: "tally", targets: ["TallyCommand"]),
        .executable(name: "tally-write-bench", targets: ["WriteBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // Layer 0: Debian's liblmdb-dev as a system library.
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        // Layer 1: the LMDB binding (package-internal: nothing in it is public API).
        .target(
            name: "TallyLMDB",
            dependencies: ["CLMDB", .product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: strict),
        // Layer 2: the engine and its public embedded API.
        .target(name: "Tally", dependencies: ["TallyLMDB", "Yams"], swiftSettings: strict),
        // A seeded synthetic card-payment stream (sample data, demo, benchmarks).
        .target(name: "CardStream", swiftSettings: strict),
        // Layer 3: the HTTP/JSON server (`tally serve`).
        .target(
            name: "TallyServer",
            dependencies: [
                "Tally",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // Layer 4: the `tally` command line.
        .executableTarget(
            name: "TallyCommand",
            dependencies: [
                "Tally", "TallyServer", "CardStream",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        // Tools: release-mode benchmarks (see Tools/README.md).
        .executableTarget(
            name: "WriteBench",
            dependencies: [
                "Tally", "CLMDB", "CardStream",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/WriteBench",
            exclude: ["log-only.yaml", "timeline.py"],
            swiftSettings: strict),
        // Test support: a child process the crash tests SIGKILL at random moments.
        .executableTarget(name: "CrashProbe", dependencies: ["Tally"], path: "Tests/CrashProbe", swiftSettings: strict),
        .testTarget(
            name: "TallyLMDBTests",
            dependencies: [
                "TallyLMDB", "CardStream", .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TallyTests",
            dependencies: ["Tally", "CLMDB", "CrashProbe"],
            swiftSettings: strict),
        .testTarget(
            name: "TallyServerTests",
            dependencies: [
                "Tally", "TallyServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
    ]
)
