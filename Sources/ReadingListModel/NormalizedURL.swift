/// A URL in its canonical form, the identity of an article (`url-v2`).
///
/// `url-v1` normalisation: the scheme and host are lowercased, the user name
/// and password (`user:password@`) are removed, a default port (80 for http,
/// 443 for https) is removed, the fragment is removed, the tracking parameters
/// `utm_*`, `fbclid`, `gclid`, `mc_cid`, `mc_eid` and `ref_src` are removed
/// (the other parameters keep their order), an empty path becomes `/`, and the
/// trailing slash of a non-root path is removed. Only `http` and `https` URLs
/// are accepted.
///
/// Credentials: a page is the same page whoever logs in to it, so the
/// canonical text (and so the article id) never contains them. Earlier
/// versions kept them; the id of a URL saved *without* credentials is the
/// same as it always was, and an article saved *with* credentials by an
/// earlier version keeps the id it has (ids are never recomputed), while a new
/// save of its URL lands on the credential-free id. The URL a user gives is
/// stored without its credentials too.
///
/// `url-v2` is `url-v1` plus the equivalences of RFC 3986 section 6.2.2 and
/// the WHATWG URL standard that people really meet: a Unicode host becomes
/// its ASCII form (NFC, lowercase, then each non-ASCII label `xn--` plus its
/// Punycode, RFC 3492; the ideographic full stops `。` `．` `｡` separate
/// labels), one trailing dot of the host is removed, a percent-escape gets
/// uppercase hex, an escaped unreserved character (`A-Z a-z 0-9 - . _ ~`) is
/// decoded, a non-ASCII character of the path or query is percent-encoded
/// (its UTF-8 bytes, RFC 3987 3.1), and the dot segments `.` and `..` are
/// removed from the path (RFC 3986 5.2.4), before the trailing slash is.
/// A URL already in that form normalises exactly as under `url-v1`, so its
/// article id (``ArticleID``, still derived under the name `url-v1`) is the
/// one it always had; a variant now gets the id of its canonical form.
public struct NormalizedURL: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The name of the normalisation. (Article ids keep the name `url-v1` in
    /// their derivation: see ``ArticleID/derivation``.)
    package static let version = "url-v2"

    /// The canonical text, e.g. `https://example.com/a?id=3`.
    public let string: String

    /// The normalised URL's text (``string``).
    public var description: String { string }

    /// Normalises `raw`, or throws ``ModelError/invalidURL(_:reason:)``.
    public init(_ raw: String) throws(ModelError) {
        string = try Self.normalize(raw)
    }

    /// The general (Unicode) path only, for checking that the fast path agrees with it.
    package init(unicodePath raw: String) throws(ModelError) {
        string = try Self.normalize(raw, asciiFastPath: false)
    }

    /// Parameters removed by `url-v1` (compared case-insensitively), besides any `utm_*`.
    package static let trackingParameters: Set<String> = ["fbclid", "gclid", "mc_cid", "mc_eid", "ref_src"]

    private static let forbiddenInHost = Set("/\\?#[]@%<>\"{}|^`".utf8)

    private static let noScheme = "it has no scheme (expected http:// or https://)"

    /// `raw` trimmed, without the user name and password of its authority
    /// (`https://user:pw@example.com/a` gives `https://example.com/a`): what a
    /// save stores as the article's `url`, so that credentials never sync.
    ///
    /// Everything else is kept byte for byte (case, port, path, query,
    /// fragment). The authority is the text after `scheme://` up to the first
    /// `/`, `?` or `#`, and its credentials end at its last `@`, as
    /// ``init(_:)`` reads them: an `@` in the path, the query or the fragment
    /// is not a credential, and `NormalizedURL(removingCredentials(url))`
    /// equals `NormalizedURL(url)`. Text without a `scheme://` is returned
    /// trimmed, otherwise unchanged (it is no URL ``init(_:)`` accepts).
    package static func removingCredentials(_ raw: String) -> String {
        // Almost every URL has no `@` and no space around it: returned as it is,
        // without trimming or scanning (an import calls this for every row).
        if let first = raw.utf8.first, let last = raw.utf8.last, first > 0x20, first < 0x7f, last > 0x20, last < 0x7f,
           !raw.utf8.contains(UInt8(ascii: "@")) {
            return raw
        }
        let text = raw.trimmingWhitespace()
        guard let colon = text.firstIndex(of: ":"), isScheme(text[..<colon].utf8), text[colon...].hasPrefix("://") else {
            return text
        }
        let authorityStart = text.index(colon, offsetBy: 3)
        let rest = text[authorityStart...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return text }
        return String(text[..<authorityStart]) + String(text[text.index(after: at)...])
    }

    /// An RFC 3986 scheme: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
    private static func isScheme(_ bytes: some Collection<UInt8>) -> Bool {
        func isAlpha(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7a }
        guard let first = bytes.first, isAlpha(first) else { return false }
        return bytes.allSatisfy { isAlpha($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2b || $0 == 0x2d || $0 == 0x2e }
    }

    /// Why a URL that is not `http://` or `https://` is refused, given the
    /// text before its first ':' and the text after it: no scheme at all,
    /// another scheme, or http(s) without the `//` of an authority.
    private static func schemeProblem(_ candidate: some Collection<UInt8>, _ afterColon: some Collection<UInt8>) -> String {
        // `example.com:8080/a` is a host and a port without a scheme, not the scheme `example.com`.
        let digits = afterColon.prefix { $0 >= 0x30 && $0 <= 0x39 }
        let afterDigits = afterColon.dropFirst(digits.count).first
        let isPort = !digits.isEmpty && (afterDigits == nil || afterDigits == UInt8(ascii: "/") || afterDigits == UInt8(ascii: "?") || afterDigits == UInt8(ascii: "#"))
        guard isScheme(candidate), !isPort else { return noScheme }
        let scheme = String(decoding: candidate.map { $0 >= 0x41 && $0 <= 0x5a ? $0 + 0x20 : $0 }, as: UTF8.self)
        guard scheme == "http" || scheme == "https" else { return "only http and https URLs can be saved, not '\(scheme)'" }
        return "'\(scheme):' is not followed by '//' (expected \(scheme)://host/...)"
    }

    private static func normalize(_ input: String, asciiFastPath: Bool = true) throws(ModelError) -> String {
        let raw = input.trimmingWhitespace()
        func fail(_ reason: String) -> ModelError { .invalidURL(input, reason: reason) }
        guard !raw.isEmpty else { throw fail("the URL is empty") }
        // Printable ASCII (nearly every URL) needs no Unicode property lookups,
        // and is normalised byte by byte (a character is a byte there).
        let printableASCII = raw.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }
        if printableASCII && asciiFastPath { return try normalizeASCII(Array(raw.utf8), input) }
        if !printableASCII, raw.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }) {
            throw fail("it contains spaces or control characters")
        }
        guard let colon = raw.firstIndex(of: ":") else { throw fail(noScheme) }
        let scheme = raw[raw.startIndex..<colon].lowercased()
        guard scheme == "http" || scheme == "https", raw[colon...].hasPrefix("://") else {
            throw fail(schemeProblem(raw[raw.startIndex..<colon].utf8, raw[raw.index(after: colon)...].utf8))
        }
        var rest = raw[raw.index(colon, offsetBy: 3)...]
        // Drop the fragment first: nothing after '#' is part of the identity.
        if let hash = rest.firstIndex(of: "#") { rest = rest[rest.startIndex..<hash] }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        var authority = Substring(rest[rest.startIndex..<authorityEnd])
        let afterAuthority = rest[authorityEnd...]

        // The user name and password are no part of the identity (nor of the host).
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host: Substring
        var port: Substring = ""
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw fail("its IPv6 host has no closing ']'") }
            host = authority[authority.startIndex...close]
            let tail = authority[authority.index(after: close)...]
            if !tail.isEmpty {
                guard tail.hasPrefix(":") else { throw fail("unexpected text after the IPv6 host") }
                port = tail.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[authority.startIndex..<colon]
            port = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw fail("it has no host") }
        if !host.hasPrefix("["), host.utf8.contains(where: { Self.forbiddenInHost.contains($0) }) {
            throw fail("its host '\(host)' contains characters a host cannot have")
        }
        // Ideographic full stops separate labels as '.' does (UTS #46, RFC 3490 3.1).
        if host.unicodeScalars.contains(where: { Self.ideographicStops.contains($0.value) }) {
            host = Substring(String(String.UnicodeScalarView(host.unicodeScalars.map { Self.ideographicStops.contains($0.value) ? "." : $0 })))
        }
        if host.hasPrefix(".") || host.contains("..") { throw fail("its host '\(host)' is not a valid name") }
        let hostText: String
        if host.utf8.allSatisfy({ $0 < 0x80 }) {
            hostText = host.lowercased()
        } else {
            guard let ascii = Self.asciiHost(host) else { throw fail("its host '\(host)' is not a valid name") }
            hostText = ascii
        }
        var portText = ""
        if !port.isEmpty {
            guard port.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(port), number <= 65535 else {
                throw fail("its port '\(port)' is not a number from 0 to 65535")
            }
            let isDefault = (scheme == "http" && number == 80) || (scheme == "https" && number == 443)
            if !isDefault { portText = ":\(number)" }
        }

        let path: Substring
        var query: Substring = ""
        if let questionMark = afterAuthority.firstIndex(of: "?") {
            path = afterAuthority[afterAuthority.startIndex..<questionMark]
            query = afterAuthority[afterAuthority.index(after: questionMark)...]
        } else {
            path = afterAuthority
        }
        // The path and the query, their non-ASCII characters percent-encoded,
        // go through the byte-level steps the fast path uses: one implementation.
        var out: [UInt8] = Array("\(scheme)://\(Self.withoutTrailingDot(hostText))\(portText)".utf8)
        Self.appendPathAndQuery(path: Self.percentEncodingNonASCII(path.utf8), query: Self.percentEncodingNonASCII(query.utf8), to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `。` (U+3002), `．` (U+FF0E) and `｡` (U+FF61): label separators in a host.
    private static let ideographicStops: Set<UInt32> = [0x3002, 0xFF0E, 0xFF61]

    /// A host without the one trailing dot of a fully qualified name (`example.com.`).
    private static func withoutTrailingDot(_ host: String) -> String {
        host.utf8.count > 1 && host.utf8.last == UInt8(ascii: ".") && !host.hasPrefix("[") ? String(host.dropLast()) : host
    }

    /// A host with non-ASCII labels in its ASCII form: NFC, lowercase, NFC
    /// again, then every label holding a non-ASCII character becomes `xn--`
    /// and its Punycode (RFC 3492). Nil when a label cannot be encoded.
    private static func asciiHost(_ host: Substring) -> String? {
        let composed = String(decoding: String(host)._nfcCodeUnits, as: UTF8.self).lowercased()
        let folded = String(decoding: composed._nfcCodeUnits, as: UTF8.self)
        var labels: [String] = []
        for label in folded.split(separator: ".", omittingEmptySubsequences: false) {
            if label.utf8.allSatisfy({ $0 < 0x80 }) {
                labels.append(String(label))
            } else {
                guard let encoded = Punycode.encode(Array(label.unicodeScalars)) else { return nil }
                labels.append("xn--" + encoded)
            }
        }
        return labels.joined(separator: ".")
    }

    /// The bytes of `text`, each byte of a non-ASCII character as `%XX` (uppercase hex).
    private static func percentEncodingNonASCII(_ text: Substring.UTF8View) -> ArraySlice<UInt8> {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count)
        for byte in text {
            if byte < 0x80 {
                bytes.append(byte)
            } else {
                bytes += [UInt8(ascii: "%"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0f)]]
            }
        }
        return bytes[...]
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }

    /// RFC 3986 unreserved: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7a || (byte >= 0x30 && byte <= 0x39)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
    }

    /// Percent-encoding normalisation (RFC 3986 6.2.2.2): an escaped
    /// unreserved character is decoded, every other escape gets uppercase
    /// hex; a `%` not followed by two hex digits is kept as it is.
    static func normalizingEscapes(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), index + 2 < bytes.endIndex,
               let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                let decoded = high << 4 | low
                if isUnreserved(decoded) {
                    out.append(decoded)
                } else {
                    out += [UInt8(ascii: "%"), hexDigits[Int(high)], hexDigits[Int(low)]]
                }
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        return out
    }

    /// RFC 3986 5.2.4 (remove_dot_segments) on an absolute path: `.` segments
    /// go, a `..` segment removes the segment before it (never above the root).
    static func removingDotSegments(_ path: [UInt8]) -> [UInt8] {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        guard path.contains(dot) else { return path }
        // Split after the leading '/': segments, empty ones kept ("//" stays).
        var segments: [ArraySlice<UInt8>] = []
        var output: [ArraySlice<UInt8>] = []
        segments = path.dropFirst().split(separator: slash, omittingEmptySubsequences: false)
        for (position, segment) in segments.enumerated() {
            let isLast = position == segments.count - 1
            if segment.elementsEqual([dot]) {
                // "/a/." is "/a/": the last segment becomes empty.
                if isLast { output.append([]) }
            } else if segment.elementsEqual([dot, dot]) {
                if !output.isEmpty { output.removeLast() }
                if isLast { output.append([]) }
            } else {
                output.append(segment)
            }
        }
        var result: [UInt8] = [slash]
        for (position, segment) in output.enumerated() {
            if position > 0 { result.append(slash) }
            result += segment
        }
        return result
    }

    /// The path and query steps shared by both paths, on bytes: escapes
    /// normalised, dot segments removed, an empty path `/`, the trailing
    /// slashes of a non-root path removed, tracking parameters dropped.
    private static func appendPathAndQuery(path rawPath: ArraySlice<UInt8>, query rawQuery: ArraySlice<UInt8>, to out: inout [UInt8]) {
        func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte }
        var path = rawPath.isEmpty ? [UInt8(ascii: "/")] : removingDotSegments(normalizingEscapes(rawPath))
        while path.count > 1 && path.last == UInt8(ascii: "/") { path.removeLast() }
        out += path
        let query = rawQuery.contains(UInt8(ascii: "%")) ? normalizingEscapes(rawQuery)[...] : rawQuery
        var first = true
        for parameter in query.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let key = String(decoding: (parameter.split(separator: UInt8(ascii: "="), maxSplits: 1).first ?? []).lazy.map(lower), as: UTF8.self)
            if key.hasPrefix("utm_") && !Mutant.is(.urlKeepsUTM) || trackingParameters.contains(key) { continue }
            out.append(first ? UInt8(ascii: "?") : UInt8(ascii: "&"))
            out += parameter
            first = false
        }
    }
}

extension NormalizedURL {
    /// `normalize` for printable ASCII, on bytes: the same steps, the same errors.
    private static func normalizeASCII(_ bytes: [UInt8], _ input: String) throws(ModelError) -> String {
        func fail(_ reason: String) -> ModelError { .invalidURL(input, reason: reason) }
        func text(_ slice: ArraySlice<UInt8>) -> String { String(decoding: slice, as: UTF8.self) }
        func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte }
        let colonSlash: [UInt8] = Array("://".utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { throw fail(noScheme) }
        let scheme = bytes[..<colon].map(lower)
        let isHTTP = scheme.elementsEqual("http".utf8), isHTTPS = scheme.elementsEqual("https".utf8)
        guard isHTTP || isHTTPS, bytes[colon...].starts(with: colonSlash) else {
            throw fail(schemeProblem(bytes[..<colon], bytes[(colon + 1)...]))
        }
        var rest = bytes[(colon + 3)...]
        if let hash = rest.firstIndex(of: UInt8(ascii: "#")) { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        let afterAuthority = rest[authorityEnd...]

        if let at = authority.lastIndex(of: UInt8(ascii: "@")) { authority = authority[(at + 1)...] }
        var host: ArraySlice<UInt8>
        var port: ArraySlice<UInt8> = []
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { throw fail("its IPv6 host has no closing ']'") }
            host = authority[...close]
            let tail = authority[(close + 1)...]
            if !tail.isEmpty {
                guard tail.first == UInt8(ascii: ":") else { throw fail("unexpected text after the IPv6 host") }
                port = tail.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            host = authority[..<colon]
            port = authority[(colon + 1)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw fail("it has no host") }
        if host.first != UInt8(ascii: "["), host.contains(where: { forbiddenInHost.contains($0) }) {
            throw fail("its host '\(text(host))' contains characters a host cannot have")
        }
        if host.first == UInt8(ascii: ".") || zip(host, host.dropFirst()).contains(where: { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") }) {
            throw fail("its host '\(text(host))' is not a valid name")
        }
        // One trailing dot (a fully qualified name) is no part of the host's identity.
        if host.count > 1 && host.last == UInt8(ascii: ".") && host.first != UInt8(ascii: "[") { host = host.dropLast() }
        var portText = ""
        if !port.isEmpty {
            guard port.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let number = Int(text(port)), number <= 65535 else {
                throw fail("its port '\(text(port))' is not a number from 0 to 65535")
            }
            let isDefault = (isHTTP && number == 80) || (isHTTPS && number == 443)
            if !isDefault { portText = ":\(number)" }
        }

        let path: ArraySlice<UInt8>
        var query: ArraySlice<UInt8> = []
        if let questionMark = afterAuthority.firstIndex(of: UInt8(ascii: "?")) {
            path = afterAuthority[..<questionMark]
            query = afterAuthority[(questionMark + 1)...]
        } else {
            path = afterAuthority
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 8)
        out += scheme
        out += colonSlash
        out += host.lazy.map(lower)
        out += portText.utf8
        appendPathAndQuery(path: path, query: query, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

extension StringProtocol {
    /// The text without leading and trailing Unicode whitespace (as
    /// Foundation's `.whitespacesAndNewlines`), without Foundation's cost for
    /// the usual text that has none.
    package func trimmingWhitespace() -> String {
        // Starts and ends with a printable ASCII character: nothing to trim.
        let text = String(self)
        if let first = text.utf8.first, let last = text.utf8.last, first > 0x20, first < 0x7f, last > 0x20, last < 0x7f { return text }
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
