/// A sync server's address, checked completely before anything is sent:
/// the scheme (`http` or `https`), a host (a name, an IPv4 address, or an
/// IPv6 address in closed brackets), an optional port in `1...65535`, and an
/// optional path prefix; no credentials, query or fragment.
///
/// ```swift
/// let address = try ServerAddress(validating: "HTTP://Sync.Example.com:8080/readinglist/")
/// address.url                   // "http://sync.example.com:8080/readinglist"
/// address.endpoint("/v1/sync")   // "http://sync.example.com:8080/readinglist/v1/sync"
/// ```
///
/// ``url`` is canonical: the scheme and host in lower case, a default
/// port (80 for http, 443 for https) left out, no trailing slash. Two spellings
/// of one address have one base URL.
public struct ServerAddress: Sendable, Hashable, CustomStringConvertible {
    /// `http` or `https`.
    public enum Scheme: String, Sendable, Hashable {
        /// Plain HTTP (port 80 by default) or HTTPS (443).
        case http, https

        /// The port a URL without one means: 80 or 443.
        public var defaultPort: Int { self == .http ? 80 : 443 }
    }

    /// Why a text is not a server address: ``description`` is one line naming
    /// the text and what is wrong with it.
    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        /// The text as given.
        public var text: String
        /// What is wrong with it ("the port 99999 is out of range (1 to 65535)").
        public var reason: String

        /// `invalid server URL 'TEXT': REASON`.
        public var description: String { "invalid server URL '\(text)': \(reason)" }
    }

    /// `http` or `https`.
    public let scheme: Scheme
    /// The host: a name or an IPv4 address in lower case, or an IPv6 address without its brackets.
    public let host: String
    /// The port, the scheme's default when the URL names none.
    public let port: Int
    /// The path prefix the sync API is under: empty, or `/`-led without a trailing slash (`/readinglist`).
    public let path: String

    /// Parses and checks `text`; throws ``Invalid`` saying what is wrong.
    public init(validating text: String) throws(Invalid) {
        func invalid(_ reason: String) -> Invalid { Invalid(text: text, reason: reason) }
        if text.isEmpty { throw invalid("it is empty") }
        if text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
            throw invalid("it contains a space or a control character")
        }
        guard let separator = text.range(of: "://") else {
            throw invalid("it must start with http:// or https://")
        }
        let schemeText = text[..<separator.lowerBound].lowercased()
        guard let scheme = Scheme(rawValue: schemeText) else {
            throw invalid(schemeText.isEmpty ? "it must start with http:// or https://" : "the scheme '\(schemeText)' is not supported; use http:// or https://")
        }
        let rest = text[separator.upperBound...]
        if rest.contains("#") { throw invalid("a fragment (#...) is not allowed") }
        if rest.contains("?") { throw invalid("a query (?...) is not allowed") }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var pathText = String(rest[authorityEnd...])
        if authority.contains("@") { throw invalid("credentials (USER@ or USER:PASSWORD@) are not allowed; give the token with --token") }
        if authority.isEmpty { throw invalid("it has no host") }

        var host: String
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("the IPv6 address is not closed with ']'") }
            host = String(authority[authority.index(after: authority.startIndex)..<close]).lowercased()
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("'\(after)' after the IPv6 address is not a port (expected ]:PORT)") }
                portText = after.dropFirst()
            }
            guard Self.isIPv6(host) else { throw invalid("'[\(host)]' is not a valid IPv6 address") }
        } else {
            let colons = authority.filter { $0 == ":" }.count
            if colons > 1 { throw invalid("an IPv6 address must be in brackets, e.g. http://[::1]:8080") }
            if let colon = authority.firstIndex(of: ":") {
                host = String(authority[..<colon]).lowercased()
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority.lowercased()
            }
            if host.isEmpty { throw invalid("it has no host") }
            if let reason = Self.hostProblem(host) { throw invalid(reason) }
        }

        var port = scheme.defaultPort
        if let portText {
            guard !portText.isEmpty else { throw invalid("the port is empty (give one after ':', or leave the ':' out)") }
            guard portText.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw invalid("the port '\(portText)' is not a number") }
            // (Compared as text first: a port of 30 digits overflows an Int.)
            let digits = portText.drop { $0 == "0" }
            guard digits.count <= 5, let value = Int(digits.isEmpty ? "0" : digits), (1...65535).contains(value) else {
                throw invalid("the port \(portText) is out of range (1 to 65535)")
            }
            port = value
        }

        while pathText.hasSuffix("/") { pathText.removeLast() }
        if pathText.contains("//") { throw invalid("the path '\(pathText)' has an empty segment ('//')") }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/%")
        if let bad = pathText.first(where: { !allowed.contains($0) }) { throw invalid("the path contains '\(bad)'; percent-encode it") }

        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = pathText
    }

    /// The canonical base URL: `scheme://host[:port][/path]`, without a trailing slash.
    public var url: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let portPart = port == scheme.defaultPort ? "" : ":\(port)"
        return "\(scheme.rawValue)://\(hostPart)\(portPart)\(path)"
    }

    /// The URL of an API path under the base (`endpoint("/v1/sync")`).
    package func endpoint(_ apiPath: String) -> String {
        url + (apiPath.hasPrefix("/") ? apiPath : "/" + apiPath)
    }

    /// The same address with the other scheme (`http://h:8080` for `https://h:8080`), for advice in error messages.
    package var withOtherScheme: ServerAddress {
        ServerAddress(scheme: scheme == .http ? .https : .http, host: host, port: port, path: path)
    }

    private init(scheme: Scheme, host: String, port: Int, path: String) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
    }

    /// Whether the host is this machine (`localhost`, `127.x.x.x`, `::1`).
    package var isLoopback: Bool {
        host == "localhost" || host.hasSuffix(".localhost") || host.hasPrefix("127.") || host == "::1"
    }

    /// The base URL.
    public var description: String { url }

    /// What is wrong with a host name or IPv4 address, or nil.
    static func hostProblem(_ host: String) -> String? {
        // Only digits and dots: an IPv4 address, four numbers from 0 to 255.
        if host.allSatisfy({ $0 == "." || ($0.isASCII && $0.isNumber) }) {
            let parts = host.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && Int($0).map { $0 <= 255 } == true }) else {
                return "'\(host)' is not a valid IPv4 address (four numbers from 0 to 255)"
            }
            return nil
        }
        let name = host.hasSuffix(".") ? String(host.dropLast()) : host
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty, label.count <= 63,
                  label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }),
                  !label.hasPrefix("-"), !label.hasSuffix("-")
            else { return "'\(host)' is not a valid host name" }
        }
        return name.count <= 253 ? nil : "'\(host)' is not a valid host name (longer than 253 characters)"
    }

    /// Whether `text` (without brackets) is an IPv6 address: hex groups, one `::` at most, an IPv4 tail allowed.
    static func isIPv6(_ text: String) -> Bool {
        guard !text.isEmpty, text.allSatisfy({ ($0.isASCII && $0.isHexDigit) || $0 == ":" || $0 == "." }) else { return false }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return false }
        var groups = 0
        for (index, half) in halves.enumerated() where !half.isEmpty {
            let parts = half.split(separator: ":", omittingEmptySubsequences: false)
            for (position, part) in parts.enumerated() {
                if part.contains(".") {
                    // An embedded IPv4 address: only as the very last group.
                    guard index == halves.count - 1, position == parts.count - 1, hostProblem(String(part)) == nil,
                          part.allSatisfy({ $0 == "." || ($0.isASCII && $0.isNumber) }) else { return false }
                    groups += 2
                } else {
                    guard (1...4).contains(part.count) else { return false }
                    groups += 1
                }
            }
        }
        return halves.count == 2 ? groups <= 7 : groups == 8
    }
}
