// swift-tools-version: 6.1
// The side-by-side benchmark (issue 8): Tally embedded and over HTTP, Redis, SQLite (GRDB) on one
// generated card stream. A separate package so the main build never compiles GRDB. Run it with
// `Tools/bench-compare` from the repository root.
import Foundation
import PackageDescription

// A path dependency's identity is its directory's name (`main`, or whatever a clone is called).
let tally = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "TallyBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "BenchTransport", swiftSettings: [.enableUpcomingFeature("ExistentialAny")]),
        .executableTarget(
            name: "TallyBench",
            dependencies: [
                "BenchTransport",
                .product(name: "Tally", package: tally),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]),
        // An open-loop fixed-rate HTTP load (Tools/bench-http-rate).
        .executableTarget(
            name: "TallyLoad",
            dependencies: [
                "BenchTransport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]),
    ]
)
