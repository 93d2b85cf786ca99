import Foundation

/// One measurement, printed beside the baseline it is compared with in the same run.
struct Measurement: Sendable {
    var id: String
    var name: String
    var value: Double
    var unit: String
    /// What the same work costs done the plain way, measured in this run (nil when the comparison is with a fixed target only).
    var baseline: Double?
    var baselineName: String?
    /// Whether a larger value is better (throughputs) or a smaller one (times, bytes, memory).
    var higherIsBetter: Bool
    /// The issue's target, in `unit`, and whether `value` meets it.
    var target: Double?
    var targetText: String?
    /// A bound on `ratio` that is part of the target too (W3: the cost at a larger list within 25 % of the smallest's).
    var maxRatio: Double?
    var detail: [String: String] = [:]

    /// How this build compares with the baseline: above 1 means better than the baseline for throughputs, below 1 means faster for times.
    var ratio: Double? {
        guard let baseline, baseline != 0 else { return nil }
        return value / baseline
    }

    var met: Bool? {
        guard let target else { return nil }
        if let maxRatio, let ratio, ratio > maxRatio { return false }
        return higherIsBetter ? value >= target : value <= target
    }

    var jsonLine: String {
        var object: [String: Any] = ["id": id, "name": name, "value": value.rounded(places: 3), "unit": unit]
        if let baseline { object["baseline"] = baseline.rounded(places: 3) }
        if let baselineName { object["baseline_name"] = baselineName }
        if let ratio { object["ratio"] = ratio.rounded(places: 4) }
        if let target { object["target"] = target }
        if let targetText { object["target_text"] = targetText }
        if let met { object["met"] = met }
        if !detail.isEmpty { object["detail"] = detail }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

extension Double {
    func rounded(places: Int) -> Double {
        let scale = Foundation.pow(10.0, Double(places))
        return (self * scale).rounded() / scale
    }

    var compact: String {
        if self == 0 { return "0" }
        let magnitude = abs(self)
        if magnitude >= 100_000 { return String(format: "%.0f", self) }
        if magnitude >= 100 { return String(format: "%.0f", self) }
        if magnitude >= 10 { return String(format: "%.1f", self) }
        if magnitude >= 0.1 { return String(format: "%.2f", self) }
        return String(format: "%.4f", self)
    }
}

/// Collects measurements, printing a JSON line for each as it is taken and a table at the end.
final class Report: @unchecked Sendable {
    private(set) var measurements: [Measurement] = []
    private let jsonFile: FileHandle?
    private let lock = NSLock()

    init(jsonPath: String?) throws {
        if let jsonPath {
            _ = FileManager.default.createFile(atPath: jsonPath, contents: nil)
            jsonFile = FileHandle(forWritingAtPath: jsonPath)
        } else {
            jsonFile = nil
        }
    }

    func add(_ measurement: Measurement) {
        lock.lock()
        measurements.append(measurement)
        lock.unlock()
        let line = measurement.jsonLine
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
        jsonFile?.write(Data((line + "\n").utf8))
    }

    func note(_ text: String) {
        FileHandle.standardError.write(Data(("# " + text + "\n").utf8))
    }

    func table() -> String {
        let header = ["id", "measurement", "value", "unit", "baseline (same run)", "ratio", "target", "met"]
        var rows: [[String]] = [header]
        for m in measurements {
            rows.append([
                m.id, m.name, m.value.compact, m.unit,
                m.baseline.map { "\($0.compact) \(m.baselineName ?? "")" } ?? "-",
                m.ratio.map { String(format: "%.3fx", $0) } ?? "-",
                m.targetText ?? "-",
                m.met.map { $0 ? "yes" : "NO" } ?? "-",
            ])
        }
        var widths = Array(repeating: 0, count: header.count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        var lines: [String] = []
        for (number, row) in rows.enumerated() {
            lines.append(row.enumerated().map { index, cell in cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
                .joined(separator: "  "))
            if number == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        return lines.joined(separator: "\n")
    }
}

/// Wall-clock time of `body`, in seconds.
func seconds<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let clock = ContinuousClock()
    let start = clock.now
    let result = try body()
    return (result, (clock.now - start).seconds)
}

func seconds<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let clock = ContinuousClock()
    let start = clock.now
    let result = try await body()
    return (result, (clock.now - start).seconds)
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
