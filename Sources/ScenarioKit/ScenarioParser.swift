import ArgumentParser
import Foundation
import ReadingListCommands
import ReadingListModel
import Yams

/// Reads scenario files (YAML), checking names, verbs and expectation keys
/// up front so a mistake is reported with its file and line before anything runs.
package enum ScenarioParser {
    /// Verbs a replica step accepts: the `readinglist` commands that work on a replica, and `sync`
    /// (parsed by the CLI's own command types; see Docs/Testing.md).
    package static var verbs: Set<String> { Set(StepCommand.verbs) }

    /// Article fields an expectation may name (as `show --json` prints them).
    package static let fields: Set<String> = [
        "url", "title", "excerpt", "author", "siteName", "imageURL", "language", "wordCount", "note", "tags",
        "isRead", "isArchived", "isFavorite", "progress", "readEpoch", "highlights", "content", "addedAt", "updatedAt", "normalizedURL",
    ]

    package static func parse(file: String) throws(ScenarioError) -> Scenario {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw ScenarioError(file: file, line: nil, "cannot read the file")
        }
        return try parse(yaml: text, file: file)
    }

    package static func parse(yaml: String, file: String) throws(ScenarioError) -> Scenario {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else { throw ScenarioError(file: file, line: nil, "the file is empty") }
            root = node
        } catch let error as ScenarioError {
            throw error
        } catch let error as YamlError {
            throw ScenarioError(file: file, line: line(of: error), "YAML syntax error: \(String(describing: error).split(separator: "\n").first ?? "")")
        } catch {
            throw ScenarioError(file: file, line: nil, "YAML syntax error: \(error)")
        }
        var reader = Reader(file: file)
        return try reader.scenario(root)
    }

    static func line(of error: YamlError) -> Int? {
        switch error {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): return mark.line
        default: return nil
        }
    }

    struct Reader {
        let file: String
        var replicas: Set<String> = []

        init(file: String) { self.file = file }

        func fail(_ node: Node?, _ message: String) -> ScenarioError {
            ScenarioError(file: file, line: node?.mark?.line, message)
        }

        func location(_ node: Node) -> Scenario.Location { Scenario.Location(file: file, line: node.mark?.line ?? 0) }

        func mapping(_ node: Node, _ what: String) throws(ScenarioError) -> [(String, Node, Node)] {
            guard let mapping = node.mapping else { throw fail(node, "expected \(what) (a mapping)") }
            var pairs: [(String, Node, Node)] = []
            for (key, value) in mapping {
                guard let name = key.string else { throw fail(key, "expected a text key in \(what)") }
                pairs.append((name, key, value))
            }
            return pairs
        }

        func names(_ node: Node, _ what: String) throws(ScenarioError) -> [String] {
            if let text = node.string { return [text] }
            guard let sequence = node.sequence else { throw fail(node, "expected \(what): a name or a list of names") }
            var names: [String] = []
            for item in sequence {
                guard let text = item.string else { throw fail(item, "expected a replica name") }
                names.append(text)
            }
            return names
        }

        func known(_ name: String, _ node: Node) throws(ScenarioError) -> String {
            guard replicas.contains(name) else {
                throw fail(node, "unknown replica '\(name)' (expected one of: \(replicas.sorted().joined(separator: ", ")))")
            }
            return name
        }

        mutating func scenario(_ root: Node) throws(ScenarioError) -> Scenario {
            var name: String?
            var specs: [Scenario.ReplicaSpec] = []
            var retention = 90
            var stepsNode: Node?
            var expectNode: Node?
            for (key, keyNode, value) in try mapping(root, "a scenario") {
                switch key {
                case "name": name = value.string
                case "description": break
                case "replicas":
                    if let sequence = value.sequence {
                        for item in sequence {
                            guard let text = item.string else { throw fail(item, "expected a replica name") }
                            specs.append(.init(name: text, clockOffset: 0))
                        }
                    } else {
                        for (replica, replicaNode, options) in try mapping(value, "replicas: a list of names, or name: {clock: +1y}") {
                            var offset: Int64 = 0
                            if options.mapping != nil {
                                for (option, optionNode, optionValue) in try mapping(options, "replica options") {
                                    guard option == "clock", let text = optionValue.string, let millis = DurationText.millis(text) else {
                                        throw fail(optionNode, "expected 'clock: +DURATION' (like +1y, -2h) for replica '\(replica)'")
                                    }
                                    offset = millis
                                }
                            } else if !(options.string ?? "").isEmpty {
                                throw fail(replicaNode, "expected replica options as a mapping, like {clock: +1y}")
                            }
                            specs.append(.init(name: replica, clockOffset: offset))
                        }
                    }
                case "retention":
                    guard let text = value.string, let millis = DurationText.millis(text), millis >= 86_400_000 else {
                        throw fail(value, "expected 'retention: Nd' (at least 1d)")
                    }
                    retention = Int(millis / 86_400_000)
                case "steps": stepsNode = value
                case "expect": expectNode = value
                default:
                    throw fail(keyNode, "unknown key '\(key)' (expected name, description, replicas, retention, steps, expect)")
                }
            }
            guard let name, !name.isEmpty else { throw fail(root, "a scenario needs a 'name'") }
            guard !specs.isEmpty else { throw fail(root, "a scenario needs 'replicas'") }
            replicas = Set(specs.map(\.name))
            guard replicas.count == specs.count else { throw fail(root, "replica names must be unique") }
            var steps: [Scenario.Step] = []
            if let stepsNode {
                guard let sequence = stepsNode.sequence else { throw fail(stepsNode, "expected 'steps' to be a list") }
                for item in sequence { steps.append(try step(item)) }
            }
            if let expectNode { steps.append(Scenario.Step(action: .expect(try expectation(expectNode)), location: location(expectNode))) }
            return Scenario(name: name, file: file, replicas: specs, retentionDays: retention, steps: steps)
        }

        mutating func step(_ node: Node) throws(ScenarioError) -> Scenario.Step {
            let pairs = try mapping(node, "a step like 'phone: add URL' or 'sync: all'")
            guard pairs.count == 1, let (key, keyNode, value) = pairs.first else {
                throw fail(node, "a step has exactly one key (a replica name, sync, partition, heal, advance, clock, copy, deliver or expect)")
            }
            let here = location(keyNode)
            switch key {
            case "sync":
                if value.string == "all" { return .init(action: .sync(.all), location: here) }
                if let mapping = value.mapping {
                    guard mapping.count == 1, let peers = mapping["peer"] else { throw fail(value, "expected 'sync: {peer: [a, b]}'") }
                    let pair = try names(peers, "two replicas")
                    guard pair.count == 2 else { throw fail(peers, "expected exactly two replicas to sync file to file") }
                    return .init(action: .sync(.peers(try known(pair[0], peers), try known(pair[1], peers))), location: here)
                }
                var list: [String] = []
                for name in try names(value, "replicas to sync") { list.append(try known(name, value)) }
                return .init(action: .sync(.replicas(list)), location: here)
            case "partition":
                let list = value.string == "all" ? replicas.sorted() : try names(value, "replicas to cut off")
                for name in list { _ = try known(name, value) }
                return .init(action: .partition(list), location: here)
            case "heal":
                if value.string == "all" { return .init(action: .heal(nil), location: here) }
                let list = try names(value, "replicas to reconnect")
                for name in list { _ = try known(name, value) }
                return .init(action: .heal(list), location: here)
            case "advance":
                guard let text = value.string, let millis = DurationText.millis(text), millis >= 0 else {
                    throw fail(value, "expected 'advance: DURATION' (like 5m, 2d, 1y)")
                }
                return .init(action: .advance(millis), location: here)
            case "clock":
                let pairs = try mapping(value, "clock: {replica: +DURATION}")
                guard pairs.count == 1, let (replica, replicaNode, offsetNode) = pairs.first,
                      let text = offsetNode.string, let millis = DurationText.millis(text) else {
                    throw fail(value, "expected 'clock: {replica: +DURATION}'")
                }
                return .init(action: .setClock(replica: try known(replica, replicaNode), offset: millis), location: here)
            case "copy":
                guard let from = value.mapping?["from"]?.string, let to = value.mapping?["to"]?.string else {
                    throw fail(value, "expected 'copy: {from: replica, to: new-name}'")
                }
                _ = try known(from, value)
                guard !replicas.contains(to) else { throw fail(value, "'\(to)' already exists; copy to a new name") }
                replicas.insert(to)
                return .init(action: .copy(from: from, to: to), location: here)
            case "deliver":
                return .init(action: .deliver(try delivery(value)), location: here)
            case "expect":
                return .init(action: .expect(try expectation(value)), location: here)
            default:
                let replica = try known(key, keyNode)
                var commandText: String
                var fails: String?
                if let text = value.string {
                    commandText = text
                } else if let mapping = value.mapping, let run = mapping["run"]?.string {
                    commandText = run
                    fails = mapping["fails"]?.string
                    if mapping["fails"] != nil && fails == nil { throw fail(value, "'fails' expects the text the error must contain") }
                } else {
                    throw fail(value, "expected a command for '\(replica)', like 'add https://example.com/a --title T'")
                }
                let arguments: [String]
                do { arguments = try CommandLineSplitter.split(commandText) } catch { throw fail(value, error.message) }
                guard !arguments.isEmpty else { throw fail(value, "expected a command for '\(replica)'") }
                // Parsed now by the CLI's own command types, so a mistake is reported with its line before anything runs.
                let command: any ParsableCommand
                do { command = try StepCommand.parse(arguments) } catch { throw fail(value, error.description) }
                if let sync = command as? Sync, let peer = sync.peer { _ = try known(peer, value) }
                return .init(action: .command(replica: replica, arguments: arguments, fails: fails), location: here)
            }
        }

        /// `deliver: {from: a, to: b, page-size: 1, pages: [2, 1, 2], fails: TEXT}`.
        func delivery(_ node: Node) throws(ScenarioError) -> Scenario.Delivery {
            let usage = "expected 'deliver: {from: REPLICA, to: REPLICA, page-size: N, pages: [2, 1, ...]}' (fails: TEXT and again: true optional)"
            var from: String?, to: String?, pageSize: Int?, order: [Int]?, fails: String?, again = false
            for (key, keyNode, value) in try mapping(node, "a delivery: \(usage)") {
                switch key {
                case "from": from = try known(value.string ?? "", value)
                case "to": to = try known(value.string ?? "", value)
                case "page-size":
                    guard let size = value.int, size >= 1 else { throw fail(value, "expected 'page-size' to be a number of entries, at least 1") }
                    pageSize = size
                case "pages":
                    guard let sequence = value.sequence, !sequence.isEmpty else { throw fail(value, "expected 'pages' to list page numbers in delivery order, like [2, 1]") }
                    var numbers: [Int] = []
                    for item in sequence {
                        guard let number = item.int, number >= 1 else { throw fail(item, "expected a page number (1 is the first page)") }
                        numbers.append(number)
                    }
                    order = numbers
                case "fails":
                    guard let text = value.string, !text.isEmpty else { throw fail(value, "'fails' expects the text the refusal must contain") }
                    fails = text
                case "again":
                    guard let flag = value.bool else { throw fail(value, "expected 'again: true' (the previous delivery's pages, late) or false") }
                    again = flag
                default:
                    throw fail(keyNode, "unknown key '\(key)' in a delivery (expected from, to, page-size, pages, fails, again)")
                }
            }
            guard let from, let to, let order, let pageSize = pageSize ?? (again ? 1 : nil) else { throw fail(node, usage) }
            guard from != to else { throw fail(node, "a delivery goes from one replica to another, not to itself") }
            return Scenario.Delivery(from: from, to: to, pageSize: pageSize, order: order, fails: fails, again: again)
        }

        func expectation(_ node: Node) throws(ScenarioError) -> Expectation {
            var result = Expectation(location: location(node), replicas: nil, converged: nil, articleCount: nil, articles: [])
            for (key, keyNode, value) in try mapping(node, "expectations") {
                switch key {
                case "converged":
                    guard let flag = value.bool else { throw fail(value, "expected 'converged: true' or false") }
                    result.converged = flag
                case "articles":
                    guard let count = value.int else { throw fail(value, "expected 'articles: COUNT'") }
                    result.articleCount = count
                case "on", "replicas":
                    var list: [String] = []
                    for name in try names(value, "replicas the expectations apply to") { list.append(try known(name, value)) }
                    result.replicas = list
                case _ where key.contains("://"):
                    result.articles.append(try article(key, keyNode, value))
                default:
                    throw fail(keyNode, "unknown expectation '\(key)' (expected converged, articles, on, or an article URL)")
                }
            }
            return result
        }

        func article(_ url: String, _ keyNode: Node, _ node: Node) throws(ScenarioError) -> ArticleExpectation {
            do { _ = try NormalizedURL(url) } catch { throw fail(keyNode, error.description) }
            var result = ArticleExpectation(url: url, location: location(keyNode), visible: nil, fields: [], conflicts: nil)
            for (key, fieldKey, value) in try mapping(node, "expectations for \(url)") {
                switch key {
                case "visible":
                    guard let flag = value.bool else { throw fail(value, "expected 'visible: true' or false") }
                    result.visible = flag
                case "conflicts":
                    if value.string == "none" || (value.mapping?.isEmpty ?? false) {
                        result.conflicts = [:]
                        continue
                    }
                    var conflicts: [String: [JSONValue]] = [:]
                    for (field, _, values) in try mapping(value, "conflicts: {field: [values]} or none") {
                        guard let sequence = values.sequence else { throw fail(values, "expected the list of conflicting values of '\(field)'") }
                        conflicts[field] = sequence.map(Self.json)
                    }
                    result.conflicts = conflicts
                case _ where ScenarioParser.fields.contains(key):
                    if let options = value.mapping?["oneOf"] {
                        guard let sequence = options.sequence else { throw fail(options, "expected 'oneOf: [values]'") }
                        result.fields.append((key, .oneOf(sequence.map(Self.json)), location(fieldKey)))
                    } else {
                        result.fields.append((key, .equals(Self.json(value)), location(fieldKey)))
                    }
                default:
                    throw fail(fieldKey, "unknown field '\(key)' for \(url) (expected visible, conflicts, or one of: \(ScenarioParser.fields.sorted().joined(separator: ", ")))")
                }
            }
            return result
        }

        static func json(_ node: Node) -> JSONValue {
            switch node {
            case let .scalar(scalar):
                if scalar.style == .plain {
                    if let flag = node.bool { return .bool(flag) }
                    if let integer = node.int { return .number(Double(integer)) }
                    if let number = node.float { return .number(number) }
                    if node.null != nil { return .null }
                }
                return .string(scalar.string)
            case let .sequence(sequence): return .array(sequence.map(json))
            case let .mapping(mapping):
                var object: [String: JSONValue] = [:]
                for (key, value) in mapping { object[key.string ?? ""] = json(value) }
                return .object(object)
            case .alias: return .null
            }
        }
    }
}

/// Splits a command line as a shell would for simple cases: spaces separate,
/// "double" and 'single' quotes group, backslash escapes in double quotes.
enum CommandLineSplitter {
    struct Failure: Error { var message: String }

    static func split(_ text: String) throws(Failure) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in text {
            if escaped { current.append(character); escaped = false; continue }
            if let open = quote {
                if character == open { quote = nil } else if character == "\\" && open == "\"" { escaped = true } else { current.append(character) }
                continue
            }
            switch character {
            case "\"", "'": quote = character; inWord = true
            case " ", "\t": if inWord { words.append(current); current = ""; inWord = false }
            default: current.append(character); inWord = true
            }
        }
        if quote != nil { throw Failure(message: "unclosed quote in command '\(text)'") }
        if inWord { words.append(current) }
        return words
    }
}
