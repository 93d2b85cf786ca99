import ArgumentParser
import Foundation
import ReplicaStore
import ServerHarness
import SyncCore

/// `readinglist-bench`: the engine measured the way users feel it, each
/// number beside a baseline measured in the same run. See Docs/Performance.md.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readinglist-bench",
        abstract: "Benchmarks W1-W10 against baselines measured in the same run; prints one JSON line per measurement, then a table.",
        discussion: "Build with `swift build -c release` first: the benchmark starts the release readinglist-server and readinglist beside it.")

    enum Size: String, ExpressibleByArgument, CaseIterable {
        case tiny, small, full
    }

    @Option(help: "tiny (seconds, for CI), small (a minute), full (the sizes of Docs/Performance.md).") var size: Size = .full
    @Option(help: "Run only these workloads (comma-separated, e.g. W1,W3).") var only: String?
    @Option(help: "Also write the JSON lines to this file.") var json: String?
    @Option(help: "Override the list sizes of W3 (comma-separated; the first is W7's, the last W6's).") var listSizes: String?
    @Option(help: ArgumentHelp("Only save this many articles in one batch (for a profiler).", visibility: .hidden)) var profileSave: Int?
    @Option(help: ArgumentHelp("Only save this many articles, one per transaction (for a profiler).", visibility: .hidden)) var profileSaves: Int?
    @Option(help: ArgumentHelp("Only make this many single-field edits, one per transaction (for a profiler).", visibility: .hidden)) var profileEdits: Int?
    @Flag(help: ArgumentHelp("Only replay W1's recorded SQL with one schema structure left out at a time, and print what each costs.", visibility: .hidden)) var schemaCosts = false
    @Option(help: ArgumentHelp("Build a list of this many articles on a server, print how to sync from it, and wait (for a profiler).", visibility: .hidden)) var serveList: Int?
    @Option(help: ArgumentHelp("Time W3's delta this many times (the median is reported; for a profiler, many).", visibility: .hidden)) var deltaRepetitions: Int?
    @Option(help: "Folder for the benchmark's databases (default: the temporary folder; a 1M-article run needs about 8 GB).") var work: String?

    struct Plan {
        var perTransaction: Int
        var batch: Int
        var repetitions: Int
        var listSizes: [Int]
        var initialSyncSize: Int
        var memorySize: Int
        var mergeEdits: Int
        var clients: [Int]
        var seconds: Double
        var fieldChanges: Int
        var deltaRepetitions: Int
    }

    var plan: Plan {
        var plan = basePlan
        if let listSizes {
            let sizes = listSizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
            if !sizes.isEmpty {
                plan.listSizes = sizes
                plan.memorySize = sizes.last!
            }
        }
        if let deltaRepetitions, deltaRepetitions > 0 { plan.deltaRepetitions = deltaRepetitions }
        return plan
    }

    var basePlan: Plan {
        switch size {
        case .tiny:
            Plan(perTransaction: 50, batch: 200, repetitions: 1, listSizes: [200, 1000], initialSyncSize: 1000, memorySize: 1000,
                 mergeEdits: 100, clients: [1, 4], seconds: 0.5, fieldChanges: 100, deltaRepetitions: 2)
        case .small:
            Plan(perTransaction: 500, batch: 2000, repetitions: 3, listSizes: [1000, 10_000, 50_000], initialSyncSize: 10_000,
                 memorySize: 50_000, mergeEdits: 1000, clients: [1, 16, 64], seconds: 2, fieldChanges: 1000, deltaRepetitions: 5)
        case .full:
            Plan(perTransaction: 2000, batch: 10_000, repetitions: 3, listSizes: [10_000, 100_000, 1_000_000], initialSyncSize: 100_000,
                 memorySize: 1_000_000, mergeEdits: 10_000, clients: [1, 16, 64], seconds: 5, fieldChanges: 1000, deltaRepetitions: 41)
        }
    }

    func wants(_ workload: String) -> Bool {
        guard let only else { return true }
        return only.uppercased().split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == workload.uppercased() }
    }

    func run() async throws {
        #if DEBUG
        FileHandle.standardError.write(Data("# warning: a debug build; numbers from it are not comparable (swift build -c release)\n".utf8))
        #endif
        let plan = plan
        let report = try Report(jsonPath: json)
        let folder = try WorkFolder(parent: work)
        defer { folder.remove() }
        Interruption.onSignal { signal in
            // Interrupted (Ctrl-C, a timeout's kill): the servers and clients
            // it started go too, and so do the gigabytes of its work folder.
            ChildProcesses.terminateAll()
            folder.remove()
            FileHandle.standardError.write(Data("# interrupted: stopped the processes it started and removed \(folder.path)\n".utf8))
            _exit(128 + signal)
        }
        if let serveList {
            let list = try await SyncBenchmarks.makeList(size: serveList, folder: folder, report: report, initialSync: false)
            report.note("ready: readinglist sync --db NEW.sqlite --server \(list.server.url) --token \(list.token)")
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
        if schemaCosts {
            try SchemaCosts.run(perTransaction: plan.perTransaction, batch: plan.batch, repetitions: plan.repetitions, folder: folder)
            return
        }
        if let profileEdits {
            var generator = ArticleGenerator(seed: 1)
            let store = try ReplicaStore.open(path: folder.file("profile.sqlite"))
            let ids = try store.save((0..<1000).map { generator.article($0) }).map(\.id.rawValue)
            let elapsed = try seconds {
                for index in 0..<profileEdits { try store.edit(ids[index % ids.count], [Fields.title: .string("Edit \(index)")]) }
            }.1
            print("\(profileEdits) edits in \(String(format: "%.3f", elapsed)) s")
            return
        }
        if let profileSaves {
            var generator = ArticleGenerator(seed: 1)
            let requests = (0..<profileSaves).map { generator.article($0) }
            let store = try ReplicaStore.open(path: folder.file("profile.sqlite"))
            let elapsed = try seconds { for request in requests { try store.save(request) } }.1
            print("saved \(profileSaves) articles one per transaction in \(String(format: "%.3f", elapsed)) s")
            return
        }
        if let profileSave {
            var generator = ArticleGenerator(seed: 1)
            let requests = (0..<profileSave).map { generator.article($0) }
            let store = try ReplicaStore.open(path: folder.file("profile.sqlite"))
            let elapsed = try seconds { try store.save(requests) }.1
            print("saved \(profileSave) articles in \(String(format: "%.3f", elapsed)) s")
            return
        }
        report.note("readinglist-bench --size \(size.rawValue): \(ProcessInfo.processInfo.activeProcessorCount) cores, work folder \(folder.path)")
        if wants("W1") {
            try LocalBenchmarks.writes(perTransaction: plan.perTransaction, batch: plan.batch, repetitions: plan.repetitions, folder: folder, report: report)
        }
        if wants("W4") {
            for replicas in [2, 8] { try LocalBenchmarks.merge(replicas: replicas, edits: plan.mergeEdits, folder: folder, report: report) }
        }
        if wants("W5") {
            try await Throughput.run(levels: plan.clients, duration: plan.seconds, folder: folder, report: report)
        }
        if wants("W10") {
            try SearchBenchmark.run(articles: size == .full ? 100_000 : size == .small ? 10_000 : 1_000, folder: folder, report: report)
        }
        if wants("W8") {
            try await PushBenchmark.idle(size: size, folder: folder, report: report)
            try await LiveBenchmark.latency(size: size, folder: folder, report: report)
        }
        if wants("W9") {
            let rows = size == .full ? 100_000 : size == .small ? 20_000 : 1000
            try ImportBenchmark.run(rows: rows, repetitions: size == .tiny ? 1 : 3, folder: folder, report: report)
        }
        if wants("W9c") {
            let entries = size == .full ? 10_000 : size == .small ? 2_000 : 200
            try ContentImportBenchmark.run(entries: entries, repetitions: size == .tiny ? 1 : 3, folder: folder, report: report)
        }
        if wants("W2") || wants("W3") || wants("W6") || wants("W7") {
            try await sizedRuns(plan, folder: folder, report: report)
        }
        print("")
        print(report.table())
    }

    func sizedRuns(_ plan: Plan, folder: WorkFolder, report: Report) async throws {
        var sizes = Set<Int>()
        if wants("W3") { sizes.formUnion(plan.listSizes) }
        if wants("W2") { sizes.insert(plan.initialSyncSize) }
        if wants("W6") { sizes.insert(plan.memorySize) }
        if wants("W7") { sizes.insert(plan.listSizes[0]) }
        // W3's lists stay (servers running, replicas open) until every size is
        // built: their deltas are then timed in turn, size after size, round
        // after round, so that a drift of this machine's speed over minutes
        // falls on every size alike rather than on the ratio between them.
        var deltaLists: [SyncedList] = []
        for size in sizes.sorted() {
            let list = try await SyncBenchmarks.makeList(size: size, folder: folder, report: report, paged: wants("W2") && size == plan.initialSyncSize)
            let syncDetail = [
                "articles": "\(size)", "write_seconds": String(format: "%.2f", list.writeSeconds),
                "push_seconds": String(format: "%.2f", list.pushSeconds),
                "replica_bytes": "\(fileSize(folder.file("b-\(size).sqlite")))",
            ]
            if wants("W2"), size == plan.initialSyncSize {
                let rows = try list.b.articles(.all).map(NaiveSync.Row.init)
                let naive = try await NaiveSync.run(rows: rows, folder: folder)
                report.add(Measurement(
                    id: "W2", name: "initial sync of \(size) articles (readinglist sync, end to end, from the snapshot)", value: list.initialSync.seconds,
                    unit: "s", baseline: naive, baselineName: "s naive JSON over HTTP", higherIsBetter: false,
                    target: size == 100_000 ? 1.0 : nil, targetText: size == 100_000 ? "<= 1 s" : "(1 s at 100k)",
                    detail: syncDetail.merging([
                        "articles_per_second": String(format: "%.0f", Double(size) / list.initialSync.seconds),
                        "snapshot_bytes": "\(list.snapshotBytes)",
                    ]) { $1 }))
                report.add(Measurement(
                    id: "W2", name: "first snapshot after pushing \(size) articles (the server materialises them first)",
                    value: list.coldSnapshotSeconds, unit: "s", baseline: naive, baselineName: "s naive JSON over HTTP", higherIsBetter: false,
                    targetText: "-", detail: ["articles": "\(size)", "snapshot_bytes": "\(list.snapshotBytes)"]))
                if let paged = list.pagedSync {
                    report.add(Measurement(
                        id: "W2", name: "initial sync of \(size) articles page by page (readinglist sync --no-snapshot)", value: paged.seconds,
                        unit: "s", baseline: naive, baselineName: "s naive JSON over HTTP", higherIsBetter: false, targetText: "-",
                        detail: ["articles": "\(size)", "articles_per_second": String(format: "%.0f", Double(size) / paged.seconds)]))
                }
            }
            // Before W3's deltas: the bytes per article of an initial sync of the list as written.
            if wants("W7"), size == plan.listSizes[0] {
                try await SyncBenchmarks.bytes(list, changes: plan.fieldChanges, folder: folder, report: report)
            }
            if wants("W3"), plan.listSizes.contains(size) { deltaLists.append(list) }
            if wants("W6"), size == plan.memorySize {
                let replicaMB = Double(fileSize(folder.file("b-\(size).sqlite"))) / 1_048_576
                report.add(Measurement(
                    id: "W6", name: "client peak memory, initial sync of \(size) (snapshot)", value: Double(list.initialSync.peakKiB) / 1024, unit: "MB",
                    baseline: replicaMB, baselineName: "MB replica file", higherIsBetter: false, target: 150, targetText: "<= 150 MB",
                    detail: syncDetail))
                report.add(Measurement(
                    id: "W6", name: "server peak memory, initial sync of \(size) (snapshot)", value: Double(list.serverPeakKiB) / 1024, unit: "MB",
                    baseline: replicaMB, baselineName: "MB replica file", higherIsBetter: false, target: 150, targetText: "<= 150 MB",
                    detail: syncDetail))
            }
            if !deltaLists.contains(where: { $0.size == size }) { try finish(list, folder: folder) }
        }
        guard !deltaLists.isEmpty else { return }
        let deltas = try await SyncBenchmarks.deltas(deltaLists, changes: 100, repetitions: plan.deltaRepetitions, report: report)
        let smallest = deltas[0]
        for (list, delta) in zip(deltaLists, deltas) {
            for (direction, value, base) in [("pushed", delta.up, smallest.up), ("pulled", delta.down, smallest.down)] {
                report.add(Measurement(
                    id: "W3", name: "100-change delta \(direction), list of \(list.size)", value: value * 1000, unit: "ms",
                    baseline: base * 1000, baselineName: "ms at \(deltaLists[0].size)", higherIsBetter: false,
                    target: 20, targetText: "<= 20 ms, ratio <= 1.25", maxRatio: 1.25,
                    detail: ["articles": "\(list.size)", "bytes": "\(direction == "pushed" ? delta.upBytes : delta.downBytes)"]))
            }
        }
        for list in deltaLists { try finish(list, folder: folder) }
    }

    /// Stops a list's server, closes its replicas and removes its databases (a 1M list takes about 12 GB).
    func finish(_ list: SyncedList, folder: WorkFolder) throws {
        list.server.stop()
        // Both closed and the files removed, whichever close fails (the first error is thrown after).
        let closing = [Result { try list.a.close() }, Result { try list.b.close() }]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where name.contains("-\(list.size).") || name.contains("-\(list.size)-") {
            try? FileManager.default.removeItem(atPath: folder.file(name))
        }
        for case let .failure(error) in closing { throw error }
    }

    func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }
}
