import ReadingListModel
import Testing

@Suite("url-v1 normalisation and article ids")
struct ModelTests {
    @Test(arguments: [
        ("HTTPS://Example.COM/Path/", "https://example.com/Path"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com/a?utm_source=tw&id=3&UTM_Medium=x&fbclid=1&gclid=2&mc_cid=3&mc_eid=4&ref_src=5", "https://example.com/a?id=3"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?b=2&a=1"),
        ("https://example.com/a/?utm_campaign=z#top", "https://example.com/a"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://user@Example.com/a", "https://user@example.com/a"),
        ("https://[::1]:443/a", "https://[::1]/a"),
        ("https://example.com//", "https://example.com/"),
    ])
    func normalises(_ input: String, _ expected: String) throws {
        #expect(try NormalizedURL(input).string == expected)
    }

    @Test(arguments: [
        "", "example.com/a", "ftp://example.com/a", "https://", "https:///a", "https://exa mple.com/a",
        "https://example.com:99999/a", "https://example.com:abc/a", "javascript:alert(1)", "https://ex..ample.com/",
        "https://[::1/a",
    ])
    func rejectsInvalidURLs(_ input: String) {
        #expect(throws: ModelError.self) { try NormalizedURL(input) }
    }

    @Test func variantsOfOnePageShareOneID() throws {
        let a = ArticleID(url: try NormalizedURL("https://Example.com/story?utm_source=newsletter"))
        let b = ArticleID(url: try NormalizedURL("https://example.com:443/story/#comments"))
        let c = ArticleID(url: try NormalizedURL("https://example.com/other"))
        #expect(a == b)
        #expect(a != c)
        #expect(a.rawValue.count == 32)
        // The derivation is part of the protocol: pin it.
        #expect(a.rawValue == String(SHA256.hex("url-v1\nhttps://example.com/story").prefix(32)))
    }

    @Test func sha256MatchesKnownVectors() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func tagsAreTrimmedAndLowercased() throws {
        #expect(try Tag.validated("  Swift ") == "swift")
        #expect(throws: ModelError.self) { try Tag.validated("   ") }
        #expect(throws: ModelError.self) { try Tag.validated(String(repeating: "x", count: 101)) }
    }

    @Test func progressMustBeAFraction() {
        #expect(throws: ModelError.self) { try ReadingProgress.validated(epoch: 0, position: 1.5) }
        #expect(throws: ModelError.self) { try ReadingProgress.validated(epoch: 0, position: -0.1) }
        #expect(throws: ModelError.self) { try ReadingProgress.validated(epoch: 0, position: .nan) }
        #expect((try? ReadingProgress.validated(epoch: 2, position: 1)) == ReadingProgress(epoch: 2, position: 1))
    }

    @Test func timestampsAreISO8601UTC() {
        #expect(Timestamp.iso8601(0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601(1_795_916_256_123) == "2026-11-29T01:37:36.123Z")
        #expect(Timestamp.iso8601(951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(Timestamp.iso8601(-1) == "1969-12-31T23:59:59.999Z")
    }

    @Test func canonicalJSONIsDeterministic() {
        let value: JSONValue = .object(["b": 1, "a": .array([true, nil, 0.5, "x\"\n"])])
        #expect(value.canonicalText == #"{"a":[true,null,0.5,"x\"\n"],"b":1}"#)
    }

    @Test(arguments: [
        JSONValue.null, true, false, 0, -3, 0.25, 1e300, -2.5e-7, 9_007_199_254_740_991, "", "plain text",
        "quotes \" and \\ backslash", "control \u{01}\u{1f} tab\t newline\n", "curly “quotes” — and 🇺🇦 emoji",
        .array([]), .object([:]), .array([1, "two", .object(["three": .array([nil, true])])]),
        .object(["epoch": 2, "position": 0.5, "nested": .object(["é": "ü"])]),
    ])
    func storedJSONTextParsesBackToTheSameValue(_ value: JSONValue) {
        #expect(JSONValue(jsonText: value.canonicalText) == value)
    }

    @Test func jsonTextFromOtherWritersParsesAndBadTextIsRefused() {
        #expect(JSONValue(jsonText: #" { "a" : [ 1 , "\u00e9\/\ud83d\ude00" ] } "#) == .object(["a": .array([1, "é/😀"])]))
        #expect(JSONValue(jsonText: #"{"a":1,"a":2}"#) == .object(["a": 1]))
        for bad in ["01", "-01", "00", "1.", "1.e5", ".5", "+1", "1e", "--1", "", "tru", "nul", "[1,]", "{\"a\"}", "\"open", "1 2", "\"\\ud800\"", "-", "01x", "[", "{\"a\":1,}", "\"a\u{0}\""] {
            #expect(JSONValue(jsonText: bad) == nil, "\(bad)")
        }
    }
}


@Suite("url-v1 fast path")
struct NormalizedURLFastPathTests {
    /// The byte-level path for printable ASCII gives what the general path gives, errors included.
    @Test func agreesWithTheGeneralPathOnGeneratedURLs() {
        var generator = SplitMix(seed: 7)
        func pick<T>(_ options: [T]) -> T { options[Int(generator.next() % UInt64(options.count))] }
        let schemes = ["http", "https", "HTTPS", "HtTp", "ftp", "http:", "https:/", "javascript", ""]
        let userinfos = ["", "", "user@", "u:p@", "@", "a@b@"]
        let hosts = ["example.com", "Example.COM", "a.b.c", "[::1]", "[::1", "[fe80::1]x", "ex..ample.com", ".example.com", "", "ex%ample.com", "exa<mple", "sub.EXAMPLE.org"]
        let ports = ["", "", ":80", ":443", ":8443", ":", ":99999", ":abc", ":0", ":00443"]
        let paths = ["", "/", "//", "/a", "/A/b/", "/a//", "/%20x", "/a:b@c", "/?", "/a/b/c///"]
        let queries = ["", "?", "?a=1", "?utm_source=x&id=3", "?UTM_Medium=y&b", "?=x&fbclid=1&&c=2", "?ref_src=5", "?mc_cid=1&mc_eid=2&gclid=3&keep=1", "?a=b=c"]
        let fragments = ["", "#", "#top", "#a?b=c"]
        var checked = 0
        for _ in 0..<5000 {
            let url = pick(schemes) + "://" + pick(userinfos) + pick(hosts) + pick(ports) + pick(paths) + pick(queries) + pick(fragments)
            let fast = Result { () throws(ModelError) in try NormalizedURL(url).string }
            let general = Result { () throws(ModelError) in try NormalizedURL(unicodePath: url).string }
            #expect("\(fast)" == "\(general)", "\(url)")
            checked += 1
        }
        #expect(checked == 5000)
    }
}

/// A small seeded generator (SplitMix64), so that failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
