// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "ReadingListSync",
    // Synchronization's Mutex and String(validating:as:) need macOS 15 and iOS 18.
    platforms: [.macOS(.v15), .iOS(.v18)],
    products: [
        .library(name: "ReadingListModel", targets: ["ReadingListModel"]),
        .library(name: "SyncCore", targets: ["SyncCore"]),
        .library(name: "ReplicaStore", targets: ["ReplicaStore"]),
        .library(name: "SyncProtocol", targets: ["SyncProtocol"]),
        .library(name: "SyncClient", targets: ["SyncClient"]),
        .library(name: "SyncClientHTTP", targets: ["SyncClientHTTP"]),
        .library(name: "SyncServer", targets: ["SyncServer"]),
        .executable(name: "readinglist", targets: ["readinglist"]),
        .executable(name: "readinglist-server", targets: ["readinglist-server"]),
        .executable(name: "readinglist-bench", targets: ["readinglist-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
    ],
    targets: [
        // Plain value types: articles, highlights, ids, URL normalisation. No dependencies.
        .target(name: "ReadingListModel", swiftSettings: strict),
        // The pure merge core: dots, version vectors, HLC, registers, policies. No I/O, no clock.
        .target(name: "SyncCore", dependencies: ["ReadingListModel"], swiftSettings: strict),
        // Starts and stops a real readinglist-server process (the end-to-end tests and the benchmark).
        .target(name: "ServerHarness", swiftSettings: strict),
        // The SQLite replica: change log, materialised articles, conflicts.
        .target(
            name: "ReplicaStore",
            dependencies: ["SyncCore", "ReadingListModel", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        // The wire types of the sync protocol (versioned JSON), its limits and error codes.
        .target(name: "SyncProtocol", dependencies: ["SyncCore"], swiftSettings: strict),
        // The sync engine a client runs: peer sessions, server sessions over any SyncTransport, retries.
        .target(name: "SyncClient", dependencies: ["ReplicaStore", "SyncCore", "SyncProtocol"], swiftSettings: strict),
        // The HTTP SyncTransport (AsyncHTTPClient); an app may supply its own transport instead.
        .target(
            name: "SyncClientHTTP",
            dependencies: [
                "SyncClient", "SyncProtocol", "SyncCore", "ReplicaStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: strict),
        // The sync server as a library: routes, auth, per-user spaces, storage behind a protocol.
        .target(
            name: "SyncServer",
            dependencies: [
                "SyncProtocol", "SyncCore", "ReplicaStore", "ReadingListModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: strict),
        // Scenario files and the seeded, fault-injecting simulator: everything, in process.
        .target(
            name: "ScenarioKit",
            dependencies: [
                "ReplicaStore", "SyncClient", "SyncServer", "SyncProtocol", "SyncCore", "ReadingListModel",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "readinglist",
            dependencies: [
                "SyncClient", "SyncClientHTTP", "ReplicaStore", "ScenarioKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "readinglist-server",
            dependencies: [
                "SyncServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // The benchmarks (W1-W7 of Docs/Performance.md): run from a release build.
        .executableTarget(
            name: "readinglist-bench",
            dependencies: [
                "ReplicaStore", "SyncClient", "SyncClientHTTP", "SyncProtocol", "SyncCore", "ReadingListModel", "ServerHarness",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            // results/: the last full run's measurements (Docs/Performance.md).
            exclude: ["results"],
            swiftSettings: strict),
        .testTarget(name: "SyncCoreTests", dependencies: ["SyncCore", "ReadingListModel"], swiftSettings: strict),
        .testTarget(
            name: "ReplicaStoreTests",
            dependencies: ["ReplicaStore", "SyncClient", "SyncCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        .testTarget(
            name: "SyncServerTests",
            dependencies: [
                "SyncServer", "SyncClient", "SyncClientHTTP", "SyncProtocol", "ReplicaStore", "SyncCore", "ReadingListModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: strict),
        .testTarget(name: "ScenarioTests", dependencies: ["ScenarioKit"], swiftSettings: strict),
        // The benchmark's own machinery (its replay of a replica's SQL); the benchmark itself runs in scripts/test, once, tiny.
        .testTarget(
            name: "BenchTests", dependencies: ["readinglist-bench", "ReplicaStore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        // Runs the built `readinglist` and `readinglist-server` executables on temporary databases.
        .testTarget(
            name: "EndToEndTests", dependencies: ["readinglist", "readinglist-server", "ReplicaStore", "ReadingListModel", "SyncClientHTTP", "SyncCore", "ServerHarness"],
            swiftSettings: strict),
    ]
)
