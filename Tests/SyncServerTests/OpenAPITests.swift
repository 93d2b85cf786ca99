import Foundation
import Hummingbird
import HummingbirdTesting
import ReadingListModel
import ReplicaStore
import SyncCore
import SyncProtocol
import SyncServer
import SyncServerCore
import Testing
import Yams

/// Keeps Docs/openapi.yaml in agreement with what the server really does:
/// the routes, the error codes and their statuses, and the shape of real
/// responses validated against the documented schemas.
@Suite("OpenAPI document")
struct OpenAPITests {
    static func document() throws -> [String: Any] {
        var root = URL(fileURLWithPath: #filePath)
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) { root.deleteLastPathComponent() }
        let text = try String(contentsOf: root.appendingPathComponent("Docs/openapi.yaml"), encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    @Test func documentedRoutesExistAndOthersDoNot() async throws {
        let document = try Self.document()
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var documented: Set<String> = []
        for (path, operations) in paths { for method in operations.keys { documented.insert("\(method.uppercased()) \(path)") } }
        #expect(documented == ["GET /health", "GET /metrics", "POST /v1/sync", "GET /v1/snapshot", "GET /v1/events"])
        let fixture = try await ServerFixture()
        let routes = documented
        try await fixture.app.test(.router) { client in
            for route in routes {
                let parts = route.split(separator: " ")
                try await client.execute(uri: String(parts[1]), method: .init(rawValue: String(parts[0]))!) { response in
                    #expect(response.status != .notFound, "\(route) is documented but not served")
                }
            }
            try await client.execute(uri: "/v1/undocumented", method: .post) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/sync", method: .get) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
            }
        }
    }

    @Test func errorCodesAndStatusesAgree() throws {
        let document = try Self.document()
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let error = try #require(((schemas["ErrorResponse"] as? [String: Any])?["properties"] as? [String: Any])?["error"] as? [String: Any])
        let codes = try #require(((error["properties"] as? [String: Any])?["code"] as? [String: Any])?["enum"] as? [String])
        #expect(Set(codes) == Set(SyncErrorCode.allCases.map(\.rawValue)))
        let paths = try #require(document["paths"] as? [String: Any])
        let sync = try #require(((paths["/v1/sync"] as? [String: Any])?["post"] as? [String: Any])?["responses"] as? [String: Any])
        let snapshot = try #require(((paths["/v1/snapshot"] as? [String: Any])?["get"] as? [String: Any])?["responses"] as? [String: Any])
        let events = try #require(((paths["/v1/events"] as? [String: Any])?["get"] as? [String: Any])?["responses"] as? [String: Any])
        let info = try #require((document["info"] as? [String: Any])?["description"] as? String)
        #expect(info.contains("405 method_not_allowed"))
        for code in SyncErrorCode.allCases where code != .methodNotAllowed {
            // Every code under its status, on the route that answers it.
            let byStatus = code == .snapshotUnavailable ? snapshot : code == .tooManyConnections ? events : sync
            let entry = try #require(byStatus[String(code.httpStatus)] as? [String: Any], "status \(code.httpStatus) of \(code) is not documented")
            #expect((entry["description"] as? String)?.contains(code.rawValue) == true, "\(code.rawValue) is not described under \(code.httpStatus)")
        }
        for shared in [SyncErrorCode.unauthorized, .unavailable] {
            #expect((snapshot[String(shared.httpStatus)] as? [String: Any])?["description"].map { "\($0)".contains(shared.rawValue) } == true)
        }
        let request = try #require((schemas["SyncRequest"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(((request["protocolVersion"] as? [String: Any])?["enum"] as? [Int]) == [SyncProtocolVersion.current])
        #expect(((request["push"] as? [String: Any])?["maxItems"] as? Int) == SyncLimits().maxPushEntries)
    }

    @Test func realResponsesMatchTheDocumentedSchemas() async throws {
        let document = try Self.document()
        let validator = try SchemaValidator(document: document)
        let fixture = try await ServerFixture()
        let phone = try makeReplica()
        try phone.save(SaveRequest(url: "https://example.com/a", title: "T", tags: ["x"]))
        try phone.edit("https://example.com/a", ["title": "U"])
        let request = SyncRequest(replica: phone.replicaID, knowledge: try phone.knowledge(), heads: try phone.heads(), push: try phone.outgoing(for: VersionVector(), limit: 100))
        #expect(validator.validate(try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(request)), against: "SyncRequest") == [])
        let (pulled, refused) = try await fixture.app.test(.router) { client in
            try await client.execute(uri: "/v1/sync", method: .post, headers: bearer(fixture.alice), body: try body(request))
            let laptop = try makeReplica()
            let pull = SyncRequest(replica: laptop.replicaID, knowledge: VersionVector(), heads: [], push: [])
            let pulled = try await client.execute(uri: "/v1/sync", method: .post, headers: bearer(fixture.alice), body: try body(pull)) {
                Data(buffer: $0.body)
            }
            let refused = try await client.execute(uri: "/v1/sync", method: .post, headers: bearer("nope"), body: try body(pull)) {
                Data(buffer: $0.body)
            }
            return (pulled, refused)
        }
        let json = try JSONDecoder().decode(JSONValue.self, from: pulled)
        #expect(validator.validate(json, against: "SyncResponse") == [])
        guard case let .array(entries)? = json.objectValue?["pull"] else { Issue.record("no pull"); return }
        // The save is a run, the title it had is a replaced dot inside it, the edit a change.
        #expect(Set(entries.compactMap { $0.objectValue?.keys.first }) == ["run", "replaced", "change"])
        #expect(validator.validate(try JSONDecoder().decode(JSONValue.self, from: refused), against: "ErrorResponse") == [])
    }
}

/// Validates JSON against the subset of OpenAPI 3.0 schemas the document uses.
struct SchemaValidator {
    let schemas: [String: Any]

    init(document: [String: Any]) throws {
        schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
    }

    func validate(_ value: JSONValue, against name: String) -> [String] {
        validate(value, schema: ["$ref": "#/components/schemas/\(name)"], path: name)
    }

    private func validate(_ value: JSONValue, schema: [String: Any], path: String) -> [String] {
        if let reference = schema["$ref"] as? String {
            guard let resolved = schemas[String(reference.split(separator: "/").last!)] as? [String: Any] else { return ["\(path): unknown \(reference)"] }
            return validate(value, schema: resolved, path: path)
        }
        if let options = schema["oneOf"] as? [[String: Any]] {
            let matches = options.filter { validate(value, schema: $0, path: path).isEmpty }.count
            return matches == 1 ? [] : ["\(path): matches \(matches) of oneOf"]
        }
        if value == .null { return schema["nullable"] as? Bool == true || schema["type"] == nil ? [] : ["\(path): null"] }
        var problems: [String] = []
        switch (schema["type"] as? String, value) {
        case let ("object", .object(object)):
            for key in schema["required"] as? [String] ?? [] where object[key] == nil { problems.append("\(path).\(key): missing") }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, member) in object {
                if let property = properties[key] as? [String: Any] {
                    problems += validate(member, schema: property, path: "\(path).\(key)")
                } else if let additional = schema["additionalProperties"] as? [String: Any] {
                    problems += validate(member, schema: additional, path: "\(path).\(key)")
                } else if !properties.isEmpty {
                    problems.append("\(path).\(key): not documented")
                }
            }
        case let ("array", .array(array)):
            if let items = schema["items"] as? [String: Any] {
                for (index, item) in array.enumerated() { problems += validate(item, schema: items, path: "\(path)[\(index)]") }
            }
        case let ("string", .string(text)):
            if let pattern = schema["pattern"] as? String, text.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(path): '\(text)' does not match \(pattern)")
            }
            if let options = schema["enum"] as? [String], !options.contains(text) { problems.append("\(path): '\(text)' not in enum") }
        case let ("integer", .number(number)):
            if number.rounded() != number { problems.append("\(path): \(number) is not an integer") }
            if let minimum = schema["minimum"] as? Int, number < Double(minimum) { problems.append("\(path): below \(minimum)") }
            if let options = schema["enum"] as? [Int], !options.contains(Int(number)) { problems.append("\(path): \(number) not in enum") }
        case ("boolean", .bool):
            break
        case (nil, _):
            break
        case let (type?, _):
            problems.append("\(path): expected \(type), got \(value.canonicalText.prefix(40))")
        }
        return problems
    }
}
