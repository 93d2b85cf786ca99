import ReadingListModel
import Testing

@Suite("url normalisation and article ids")
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
        ("https://user@Example.com/a", "https://example.com/a"),
        ("https://user:pw@Example.com:443/a/#f", "https://example.com/a"),
        ("https://a@b:c@example.com/a", "https://example.com/a"),
        ("https://u:p@[::1]:8443/a", "https://[::1]:8443/a"),
        ("https://example.com/@user/post?to=a@b.c#x@y", "https://example.com/@user/post?to=a@b.c"),
        ("https://u:p@例え.JP/記事", "https://xn--r8jz45g.jp/%E8%A8%98%E4%BA%8B"),
        ("https://[::1]:443/a", "https://[::1]/a"),
        ("https://example.com//", "https://example.com/"),
    ])
    func normalises(_ input: String, _ expected: String) throws {
        #expect(try NormalizedURL(input).string == expected)
    }

    @Test(arguments: [
        "", "example.com/a", "ftp://example.com/a", "https://", "https:///a", "https://exa mple.com/a",
        "https://example.com:99999/a", "https://example.com:abc/a", "javascript:alert(1)", "https://ex..ample.com/",
        "https://[::1/a", "mailto:x@example.com", "http:example.com", "https://u:p@", "https://u:p@/a",
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

    /// The reason a URL is refused: one line that names the actual problem,
    /// the same from the ASCII fast path and the general path.
    @Test(arguments: [
        ("", "the URL is empty"),
        ("mailto:someone@example.com", "only http and https URLs can be saved, not 'mailto'"),
        ("mailto:ü@example.com", "only http and https URLs can be saved, not 'mailto'"),
        ("javascript:alert(1)", "only http and https URLs can be saved, not 'javascript'"),
        ("JavaScript:alert(1)", "only http and https URLs can be saved, not 'javascript'"),
        ("ftp://example.com/file", "only http and https URLs can be saved, not 'ftp'"),
        ("git+ssh://example.com/repo", "only http and https URLs can be saved, not 'git+ssh'"),
        ("example.com/a", "it has no scheme (expected http:// or https://)"),
        ("example.com:8080/a", "it has no scheme (expected http:// or https://)"),
        ("localhost:3000", "it has no scheme (expected http:// or https://)"),
        ("://example.com/a", "it has no scheme (expected http:// or https://)"),
        ("//example.com/a", "it has no scheme (expected http:// or https://)"),
        ("http:example.com", "'http:' is not followed by '//' (expected http://host/...)"),
        ("HTTPS:/example.com/a", "'https:' is not followed by '//' (expected https://host/...)"),
        ("https:例え.jp", "'https:' is not followed by '//' (expected https://host/...)"),
        ("http://", "it has no host"),
        ("https://u:p@/a", "it has no host"),
        ("http://[::1", "its IPv6 host has no closing ']'"),
        ("http://host:99999", "its port '99999' is not a number from 0 to 65535"),
    ])
    func refusalsSayWhy(_ input: String, _ reason: String) {
        for general in [false, true] {
            do throws(ModelError) {
                _ = try general ? NormalizedURL(unicodePath: input) : NormalizedURL(input)
                Issue.record("'\(input)' was accepted")
            } catch {
                #expect(error == .invalidURL(input, reason: reason), "general path: \(general)")
                #expect(!error.description.contains("\n"))
            }
        }
    }

    /// Ids are stored on every device and on the server: url-v1 must never
    /// move them. These were computed by the normaliser before credentials
    /// were stripped, and must stay exactly as they are.
    @Test(arguments: [
        ("https://example.com/a", "84a60c894875ec90b2b09c353997fc03"),
        ("HTTPS://Example.COM:443/Story/?utm_source=x&id=3#c", "c324f74da920e41bd964998f228f18d4"),
        ("http://[::1]:8080/@user/post?to=a@b.c", "b9c90e37b579ce415e8a96ba158c589b"),
        // (url-v2: the id its canonical form, https://xn--r8jz45g.jp/%E8%A8%98%E4%BA%8B, always had.
        // url-v1 gave it c04f6fa9cfe89f4ae4e24439506da337: see URLv2Tests.)
        ("https://例え.jp/記事", "ecf7d7553f4e0773375112945b52b75d"),
    ])
    func idsOfURLsWithoutCredentialsArePinned(_ url: String, _ id: String) throws {
        #expect(ArticleID(url: try NormalizedURL(url)).rawValue == id)
        #expect(ArticleID(url: try NormalizedURL(unicodePath: url)).rawValue == id)
    }

    /// A page is the same page whoever logs in: credentials are no part of the id.
    @Test func credentialsAreNoPartOfTheID() throws {
        let plain = ArticleID(url: try NormalizedURL("https://example.com/a"))
        #expect(ArticleID(url: try NormalizedURL("https://u:p@example.com/a")) == plain)
        #expect(ArticleID(url: try NormalizedURL("https://user@EXAMPLE.com/a/")) == plain)
        #expect(ArticleID(url: try NormalizedURL(unicodePath: "https://u:p@example.com/a")) == plain)
        #expect(plain.rawValue == "84a60c894875ec90b2b09c353997fc03")
        #expect(ArticleID(url: try NormalizedURL("http://u:p@[::1]:8080/@user/post?to=a@b.c")).rawValue == "b9c90e37b579ce415e8a96ba158c589b")
    }

    /// What a save stores as `url`: the URL as given, trimmed, without `user[:password]@`.
    @Test(arguments: [
        ("https://user:pw@example.com/a", "https://example.com/a"),
        ("https://user@example.com/a", "https://example.com/a"),
        ("https://user:@example.com", "https://example.com"),
        ("  HTTPS://User:Pw@Example.COM:8443/A/?utm_source=x#Top  ", "HTTPS://Example.COM:8443/A/?utm_source=x#Top"),
        ("https://a@b:c@example.com/", "https://example.com/"),
        ("https://u:p@[::1]:8443/a", "https://[::1]:8443/a"),
        ("https://u:p@[fe80::1%25en0]/a", "https://[fe80::1%25en0]/a"),
        ("https://u%40x:p%3Aw@example.com/a", "https://example.com/a"),
        ("https://u:p@例え.jp/記事", "https://例え.jp/記事"),
        ("https://u:p@example.com?next=/a", "https://example.com?next=/a"),
        // An '@' after the authority is no credential.
        ("https://example.com/@user/post", "https://example.com/@user/post"),
        ("https://example.com/a?to=x@y.z", "https://example.com/a?to=x@y.z"),
        ("https://example.com?to=x@y.z", "https://example.com?to=x@y.z"),
        ("https://example.com#x@y", "https://example.com#x@y"),
        ("https://[::1]/a@b", "https://[::1]/a@b"),
        ("https://example.com/a", "https://example.com/a"),
        // No scheme://: returned as given (trimmed), and refused by a save anyway.
        ("mailto:x@y.z", "mailto:x@y.z"),
        ("user:pw@example.com/a", "user:pw@example.com/a"),
        (" example.com/a@b ", "example.com/a@b"),
        ("", ""),
    ])
    func removingCredentialsKeepsTheRestAsGiven(_ input: String, _ expected: String) throws {
        let stripped = NormalizedURL.removingCredentials(input)
        #expect(stripped == expected)
        #expect(NormalizedURL.removingCredentials(stripped) == stripped)
        // A save stores the stripped URL and derives the id from it: the same id.
        if let normalized = try? NormalizedURL(input) {
            #expect(try NormalizedURL(stripped) == normalized)
        }
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

    @Test(arguments: [
        ("#swift", "swift"), ("##Swift", "swift"), ("# swift", "swift"), ("  #Swift\n", "swift"),
        ("two   words", "two words"), ("Two\t\nWords", "two words"), ("a\u{00A0}b", "a b"), ("a\u{3000}b", "a b"),
        ("C#", "c#"), ("c#sharp#", "c#sharp#"), ("CAFÉ", "café"), ("cafe\u{301}", "café"), ("ÜBER", "über"),
        ("日本語", "日本語"), ("Ελληνικά", "ελληνικά"), ("👩‍💻", "👩‍💻"), ("🏴󠁧󠁢󠁷󠁬󠁳󠁿", "🏴󠁧󠁢󠁷󠁬󠁳󠁿"), ("say \"hi\"", "say \"hi\""),
        (String(repeating: "x", count: 100), String(repeating: "x", count: 100)),
        (String(repeating: "é", count: 100), String(repeating: "é", count: 100)),
    ])
    func tagsAreNormalised(_ raw: String, _ tag: String) throws {
        let normalised = try Tag.validated(raw)
        #expect(normalised == tag)
        // Byte for byte (Swift's == compares canonical equivalents alike): NFC.
        #expect(Array(normalised.utf8) == Array(tag.precomposedForTest.utf8))
        // Normalising is idempotent, and the displayed form, typed again, is the same tag when it has no quotes.
        #expect(try Tag.validated(normalised) == normalised)
        if !Tag.displayed(normalised).contains("\"") { #expect(try Tag.validated(Tag.displayed(normalised)) == normalised) }
    }

    @Test func aDecomposedAndAComposedLetterAreOneTag() throws {
        let decomposed = try Tag.validated("Cafe\u{301}")
        #expect(Array(decomposed.unicodeScalars) == Array("caf\u{E9}".unicodeScalars))
    }

    @Test(arguments: [
        ("", "at least one character"), ("   ", "at least one character"), ("#", "at least one character"), ("## ", "at least one character"),
        ("a,b", "cannot contain ','"), (",", "cannot contain ','"),
        ("a\u{0}b", "a control character (U+0000)"), ("a\u{1B}[31m", "a control character (U+001B)"), ("a\u{7F}", "(U+007F)"),
        ("a\u{200B}b", "an invisible formatting character (U+200B)"), ("\u{FEFF}swift", "(U+FEFF)"), ("a\u{202E}b", "(U+202E)"),
        ("a\u{2066}b", "(U+2066)"), ("soft\u{AD}hyphen", "(U+00AD)"),
        (String(repeating: "x", count: 101), "at most 100 characters, this one 101"),
        (String(repeating: "e\u{301}\u{302}\u{303}\u{304}", count: 60), "at most 400 bytes of UTF-8"),
    ])
    func tagsOutsideTheRulesAreRefusedWithTheRule(_ raw: String, _ reason: String) {
        #expect(throws: ModelError.invalidTag(raw)) { try Tag.validated(raw) }
        let problem = Tag.problem(with: raw)
        #expect(problem?.contains(reason) == true, "\(problem ?? "nil")")
    }

    @Test func tagsDisplayUnambiguously() {
        #expect(Tag.displayed("swift") == "#swift")
        #expect(Tag.displayed("c#") == "#c#")
        #expect(Tag.displayed("café") == "#café")
        #expect(Tag.displayed("two words") == "#\"two words\"")
        #expect(Tag.displayed("say \"hi\"") == "#\"say \\\"hi\\\"\"")
        #expect(Tag.displayed("back\\slash") == "#\"back\\\\slash\"")
        // Tags saved before the rules: shown, never mistaken for another tag.
        #expect(Tag.displayed("#hash") == "#\"#hash\"")
        #expect(Tag.displayed("two\nlines") == "#\"two\\nlines\"")
        #expect(Tag.displayed("tab\tbed") == "#\"tab\\tbed\"")
        #expect(Tag.displayed("bell\u{7}") == "#\"bell\\u{7}\"")
        #expect(Tag.displayed("nb\u{A0}sp") == "#\"nb\\u{A0}sp\"")
        #expect(Tag.displayed("") == "#\"\"")
        #expect(Tag.displayed("Mixed") == "#Mixed")
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


@Suite("url-v2 fast path")
struct NormalizedURLFastPathTests {
    /// The byte-level path for printable ASCII gives what the general path gives, errors included.
    @Test func agreesWithTheGeneralPathOnGeneratedURLs() {
        var generator = SplitMix(seed: 7)
        func pick<T>(_ options: [T]) -> T { options[Int(generator.next() % UInt64(options.count))] }
        let schemes = ["http", "https", "HTTPS", "HtTp", "ftp", "http:", "https:/", "javascript", "", "mailto", "git+ssh", "1http", "localhost"]
        let separators = ["://", "://", "://", "://", ":", ":/", "//", ":8080/"]
        let userinfos = ["", "", "user@", "u:p@", "@", "a@b@", "u:@", ":p@", "u%40x:p%3A@", "[::1]@"]
        let hosts = ["example.com", "Example.COM", "a.b.c", "[::1]", "[::1", "[fe80::1]x", "ex..ample.com", ".example.com", "", "ex%ample.com", "exa<mple", "sub.EXAMPLE.org",
                     "example.com.", "EXAMPLE.com.", ".", "a..", "XN--R8JZ45G.jp"]
        let ports = ["", "", ":80", ":443", ":8443", ":", ":99999", ":abc", ":0", ":00443"]
        let paths = ["", "/", "//", "/a", "/A/b/", "/a//", "/%20x", "/a:b@c", "/?", "/a/b/c///",
                     "/%7e%7Euser", "/%e3%83%91", "/%2F%2f", "/%", "/%4", "/%zz%41", "/./story", "/a/../story", "/a/b/..", "/..", "/.",
                     "/a/%2E%2e/b", "/.../a", "/a/./", "//../a", "/%2D%5F%2E%30"]
        let queries = ["", "?", "?a=1", "?utm_source=x&id=3", "?UTM_Medium=y&b", "?=x&fbclid=1&&c=2", "?ref_src=5", "?mc_cid=1&mc_eid=2&gclid=3&keep=1", "?a=b=c",
                       "?q=%7e&r=%2f", "?utm%5Fsource=x&k=%e3%83%91", "?a=/./b/../c", "?%"]
        let fragments = ["", "#", "#top", "#a?b=c"]
        var checked = 0
        for _ in 0..<5000 {
            let url = pick(schemes) + pick(separators) + pick(userinfos) + pick(hosts) + pick(ports) + pick(paths) + pick(queries) + pick(fragments)
            let fast = Result { () throws(ModelError) in try NormalizedURL(url).string }
            let general = Result { () throws(ModelError) in try NormalizedURL(unicodePath: url).string }
            #expect("\(fast)" == "\(general)", "\(url)")
            // Neither keeps credentials, and the URL a save stores without them is the same URL.
            if case let .success(canonical) = fast {
                #expect(!canonical.split(separator: "/")[1].contains("@"), "\(url)")
                #expect((try? NormalizedURL(NormalizedURL.removingCredentials(url)).string) == canonical, "\(url)")
            }
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

extension String {
    /// NFC, through the standard library's own normalisation (for comparing bytes in tests).
    fileprivate var precomposedForTest: String { String(decoding: _nfcCodeUnits, as: UTF8.self) }
}
