// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "ReadingListSync",
    platforms: [.macOS(.v14), .iOS(.v17)],
    products: [
        .library(name: "ReadingListModel", targets: ["ReadingListModel"]),
        .library(name: "SyncCore", targets: ["SyncCore"]),
        .library(name: "ReplicaStore", targets: ["ReplicaStore"]),
        .library(name: "SyncClient", targets: ["SyncClient"]),
        .executable(name: "readinglist", targets: ["readinglist"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Plain value types: articles, highlights, ids, URL normalisation. No dependencies.
        .target(name: "ReadingListModel", swiftSettings: strict),
        // The pure merge core: dots, version vectors, HLC, registers, policies. No I/O, no clock.
        .target(name: "SyncCore", dependencies: ["ReadingListModel"], swiftSettings: strict),
        // The SQLite replica: change log, materialised articles, conflicts.
        .target(
            name: "ReplicaStore",
            dependencies: ["SyncCore", "ReadingListModel", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        // The sync engine a client runs (peer-to-peer sessions today).
        .target(name: "SyncClient", dependencies: ["ReplicaStore", "SyncCore"], swiftSettings: strict),
        .executableTarget(
            name: "readinglist",
            dependencies: ["SyncClient", "ReplicaStore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),
        .testTarget(name: "SyncCoreTests", dependencies: ["SyncCore", "ReadingListModel"], swiftSettings: strict),
        .testTarget(
            name: "ReplicaStoreTests",
            dependencies: ["ReplicaStore", "SyncClient", "SyncCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        // Runs the built `readinglist` executable on temporary databases.
        .testTarget(name: "EndToEndTests", dependencies: ["readinglist"], swiftSettings: strict),
    ]
)
