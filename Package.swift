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
        .library(name: "ReadableText", targets: ["ReadableText"]),
        .library(name: "ReadingListImport", targets: ["ReadingListImport"]),
        .library(name: "SyncProtocol", targets: ["SyncProtocol"]),
        .library(name: "SyncClient", targets: ["SyncClient"]),
        .library(name: "SyncClientHTTP", targets: ["SyncClientHTTP"]),
        .library(name: "SyncServerCore", targets: ["SyncServerCore"]),
        .library(name: "SyncServerPostgres", targets: ["SyncServerPostgres"]),
        .library(name: "SyncServer", targets: ["SyncServer"]),
        .executable(name: "readinglist", targets: ["readinglist"]),
        .executable(name: "readinglist-server", targets: ["readinglist-server"]),
        .executable(name: "readinglist-bench", targets: ["readinglist-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // `swift package generate-documentation --target ReplicaStore` (the DocC catalog in Sources/ReplicaStore/ReplicaStore.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // Its errors, to tell a TLS failure's kind without reading text (async-http-client brings it already).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // The push hub is a Service (graceful shutdown) without the HTTP stack (Hummingbird brings it already).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The major version postgres-nio resolves (it accepts 3 to 5).
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        // Plain value types: articles, highlights, ids, URL normalisation. No dependencies.
        .target(name: "ReadingListModel", swiftSettings: strict),
        // The pure merge core: dots, version vectors, HLC, registers, policies. No I/O, no clock.
        .target(name: "SyncCore", dependencies: ["ReadingListModel"], swiftSettings: strict),
        // Readable text: a page's metadata and its story without the clutter (deterministic, no I/O).
        .target(name: "ReadableText", dependencies: ["ReadingListModel"], swiftSettings: strict),
        // Starts and stops a real readinglist-server process (the end-to-end tests and the benchmark).
        .target(name: "ServerHarness", swiftSettings: strict),
        // The SQLite replica: change log, materialised articles, conflicts.
        .target(
            name: "ReplicaStore",
            dependencies: [
                "SyncCore", "ReadingListModel", "ReadableText", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strict),
        // Import from other reading apps' exports (Pocket, Instapaper, Omnivore...) and export (JSON, Netscape, CSV, Markdown).
        .target(
            name: "ReadingListImport",
            dependencies: [
                "ReplicaStore", "ReadingListModel", "SyncCore",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
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
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The sync service without HTTP: auth, per-user spaces, storage behind a protocol, its SQLite storage,
        // the push hub, metrics. The simulator runs it in process; no Hummingbird, no PostgresNIO.
        .target(
            name: "SyncServerCore",
            dependencies: [
                "SyncProtocol", "SyncCore", "ReplicaStore", "ReadingListModel",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        // The server storage on PostgreSQL (several server processes on one database).
        .target(
            name: "SyncServerPostgres",
            dependencies: [
                "SyncServerCore", "SyncProtocol", "SyncCore", "ReplicaStore", "ReadingListModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strict),
        // The sync server's HTTP layer (Hummingbird): routes, the push channel, the JSON log, the metrics middleware.
        .target(
            name: "SyncServer",
            dependencies: [
                "SyncServerCore", "SyncProtocol", "SyncCore", "ReadingListModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict),
        // The `readinglist` command tree (swift-argument-parser): each command parses, calls the library and prints.
        // The CLI runs it; scenario steps parse and perform the same commands.
        .target(
            name: "ReadingListCommands",
            dependencies: [
                "ReplicaStore", "SyncClient", "SyncClientHTTP", "SyncProtocol", "SyncCore", "ReadingListModel", "ReadingListImport", "ReadableText",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        // Scenario files and the seeded, fault-injecting simulator: everything, in process.
        .target(
            name: "ScenarioKit",
            dependencies: [
                "ReplicaStore", "SyncClient", "SyncServerCore", "SyncProtocol", "SyncCore", "ReadingListModel", "ReadingListCommands",
                .product(name: "Yams", package: "Yams"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "readinglist",
            dependencies: [
                "ReadingListCommands", "ScenarioKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "readinglist-server",
            dependencies: [
                "SyncServer", "SyncServerCore", "SyncServerPostgres",
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
                "ReplicaStore", "ReadingListImport", "ReadableText", "SyncClient", "SyncClientHTTP", "SyncProtocol", "SyncCore", "ReadingListModel",
                "ServerHarness",
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
        .testTarget(name: "SyncCoreTests", dependencies: ["SyncCore", "SyncProtocol", "ReadingListModel"], swiftSettings: strict),
        .testTarget(
            name: "ReadableTextTests", dependencies: ["ReadableText", "ReadingListModel"], resources: [.copy("Fixtures")],
            swiftSettings: strict),
        .testTarget(
            name: "SearchTests",
            dependencies: [
                "ReplicaStore", "ReadableText", "ReadingListCommands", "SyncClient", "SyncCore", "ReadingListModel",
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ReplicaStoreTests",
            dependencies: ["ReplicaStore", "SyncClient", "SyncCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        .testTarget(
            name: "SyncServerTests",
            dependencies: [
                "SyncServer", "SyncServerCore", "SyncServerPostgres", "SyncClient", "SyncClientHTTP", "SyncProtocol", "ReplicaStore", "SyncCore",
                "ReadingListModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: strict),
        .testTarget(name: "ScenarioTests", dependencies: ["ScenarioKit"], swiftSettings: strict),
        .testTarget(
            name: "ImportTests",
            // CSV.swift is the reference CSVScanner is held to (CSVScannerTests).
            dependencies: [
                "ReadingListImport", "ReplicaStore", "ReadingListModel", "SyncCore", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "CSV", package: "CSV.swift"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strict),
        // The benchmark's own machinery (its replay of a replica's SQL); the benchmark itself runs in scripts/test, once, tiny.
        .testTarget(
            name: "BenchTests", dependencies: ["readinglist-bench", "ReplicaStore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        // Runs the built `readinglist` and `readinglist-server` executables on temporary databases.
        .testTarget(
            name: "EndToEndTests", dependencies: ["readinglist", "readinglist-server", "ReplicaStore", "ReadingListModel", "SyncClientHTTP", "SyncCore", "ServerHarness",
                "SyncClient", "SyncProtocol",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: strict),
        // Uses only the public API, as an app would: compiled without the package's name (`packageAccess: false`),
        // so that `package` declarations are out of its reach (Docs/Architecture.md, "Public API").
        .testTarget(
            name: "PublicAPITests",
            dependencies: [
                "readinglist-server", "ReplicaStore", "ReadingListModel", "SyncCore", "SyncClient", "SyncClientHTTP", "ReadingListImport",
                "ReadableText", "SyncServerCore", "ServerHarness",
            ],
            packageAccess: false,
            swiftSettings: strict),
    ]
)
