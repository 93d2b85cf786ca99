import ReadingListModel
import Testing

/// `url-v2`: the URL variants people meet are one page, and no id of a
/// canonical URL moves.
@Suite("url-v2 normalisation")
struct URLv2Tests {
    /// Each pair of the issue ("Hardening", item 13) is one article.
    @Test(arguments: [
        ("https://例え.jp/a", "https://xn--r8jz45g.jp/a"),
        ("https://例え.JP/a", "https://XN--R8JZ45G.jp/a"),
        ("https://münchen.de/", "https://xn--mnchen-3ya.de/"),
        ("https://MÜNCHEN.de/", "https://xn--mnchen-3ya.de/"),
        ("https://mu\u{308}nchen.de/", "https://xn--mnchen-3ya.de/"),
        ("https://例え。jp/a", "https://xn--r8jz45g.jp/a"),
        ("https://example.com/%e3%83%91", "https://example.com/%E3%83%91"),
        ("https://example.com/パ", "https://example.com/%E3%83%91"),
        ("https://example.com/?q=%e3%83%91", "https://example.com/?q=%E3%83%91"),
        ("https://example.com/%7Euser", "https://example.com/~user"),
        ("https://example.com/%7euser", "https://example.com/~user"),
        ("https://example.com/%41%2D%5F%2E%30", "https://example.com/A-_.0"),
        ("https://example.com/./story", "https://example.com/a/../story"),
        ("https://example.com/./story", "https://example.com/story"),
        ("https://example.com/a/b/../../story/.", "https://example.com/story"),
        ("https://example.com/a/%2E%2E/story", "https://example.com/story"),
        ("https://example.com./story", "https://example.com/story"),
        ("https://EXAMPLE.com.:443/story/", "https://example.com/story"),
        ("https://例え.jp./a", "https://xn--r8jz45g.jp/a"),
        ("https://example.com/a?utm%5Fsource=x", "https://example.com/a"),
    ])
    func variantsAreOnePage(_ variant: String, _ canonical: String) throws {
        let id = ArticleID(url: try NormalizedURL(canonical))
        #expect(ArticleID(url: try NormalizedURL(variant)) == id)
        #expect(ArticleID(url: try NormalizedURL(unicodePath: variant)) == id)
        #expect(try NormalizedURL(variant).string == NormalizedURL(canonical).string)
    }

    @Test(arguments: [
        ("https://example.com/%e3%83%91", "https://example.com/%E3%83%91"),
        ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
        ("https://example.com/%7Euser/%7e", "https://example.com/~user/~"),
        ("https://example.com/100%", "https://example.com/100%"),
        ("https://example.com/%zz%4", "https://example.com/%zz%4"),
        ("https://example.com/a/./b/../c/", "https://example.com/a/c"),
        ("https://example.com/..", "https://example.com/"),
        ("https://example.com/a/..", "https://example.com/"),
        ("https://example.com/a/b/..", "https://example.com/a"),
        ("https://example.com/a//../b", "https://example.com/a/b"),
        ("https://example.com/.../a", "https://example.com/.../a"),
        ("https://example.com/a/.hidden", "https://example.com/a/.hidden"),
        ("https://example.com/a?p=./x/../y", "https://example.com/a?p=./x/../y"),
        ("https://example.com.", "https://example.com/"),
        ("https://Bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://[::1]:8080/a/../b", "https://[::1]:8080/b"),
    ])
    func normalises(_ input: String, _ expected: String) throws {
        #expect(try NormalizedURL(input).string == expected)
        #expect(try NormalizedURL(unicodePath: input).string == expected)
    }

    /// Different pages stay different: reserved characters keep their escapes.
    @Test func reservedEscapesAreNotDecoded() throws {
        #expect(ArticleID(url: try NormalizedURL("https://example.com/a%2Fb")) != ArticleID(url: try NormalizedURL("https://example.com/a/b")))
        #expect(ArticleID(url: try NormalizedURL("https://example.com/?a=1%262")) != ArticleID(url: try NormalizedURL("https://example.com/?a=1&2")))
    }

    /// Computed with the url-v1 normaliser before url-v2 existed: a URL already
    /// in canonical form keeps exactly the id it had.
    @Test(arguments: [
        ("https://example.com/a", "84a60c894875ec90b2b09c353997fc03"),
        ("https://example.com/story", "8881675bde43f4169773cd6e9257ab77"),
        ("https://example.com/story?id=3", "9e01380e6af802d3b21f68cef7aed302"),
        ("https://www.example.org/2024/05/a-long-title?page=2", "e95e822c4c8c5b5b61e114cff8ca26fd"),
        ("https://example.com/~user/story", "62039eb28517eeb78cb7095a179339f6"),
        ("https://example.com/%E3%83%91", "80d758ca14b449efe2bd86cfd70c335a"),
        ("https://example.com/a%2Fb?q=%26", "7ba4b8b18e2f31e2b8c2afc224dfa7c6"),
        ("https://xn--r8jz45g.jp/%E8%A8%98%E4%BA%8B", "ecf7d7553f4e0773375112945b52b75d"),
        ("https://xn--mnchen-3ya.de/", "c69add25e11e01932263acd660da3c55"),
        ("HTTPS://Example.COM:443/Story/?utm_source=x&id=3#c", "c324f74da920e41bd964998f228f18d4"),
        ("http://[::1]:8080/@user/post?to=a@b.c", "b9c90e37b579ce415e8a96ba158c589b"),
    ])
    func idsOfCanonicalURLsDoNotMove(_ url: String, _ id: String) throws {
        #expect(ArticleID(url: try NormalizedURL(url)).rawValue == id)
        #expect(ArticleID(url: try NormalizedURL(unicodePath: url)).rawValue == id)
    }

    @Test func theIDDerivationKeepsItsName() throws {
        #expect(NormalizedURL.version == "url-v2")
        #expect(ArticleID.derivation == "url-v1")
        let url = try NormalizedURL("https://example.com/%7estory")
        #expect(ArticleID(url: url).rawValue == String(SHA256.hex("url-v1\nhttps://example.com/~story").prefix(32)))
    }

    /// The sample strings of RFC 3492 section 7.1 (their case annotations
    /// aside), and two well-known labels.
    @Test(arguments: [
        ("\u{644}\u{64A}\u{647}\u{645}\u{627}\u{628}\u{62A}\u{643}\u{644}\u{645}\u{648}\u{634}\u{639}\u{631}\u{628}\u{64A}\u{61F}", "egbpdaj6bu4bxfgehfvwxn"),
        ("他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),
        ("他們爲什麽不說中文", "ihqwctvzc91f659drss3x8bo0yb"),
        ("Pročprostěnemluvíčesky", "Proprostnemluvesky-uyb24dma41a"),
        ("למההםפשוטלאמדבריםעברית", "4dbcagdahymbxekheh6e0a7fei0b"),
        ("почемужеонинеговорятпорусски", "b1abfaaepdrnnbgefbadotcwatmq2g4l"),
        ("3年B組金八先生", "3B-ww4c5e180e575a65lsy2b"),
        ("安室奈美恵-with-SUPER-MONKEYS", "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n"),
        ("Hello-Another-Way-それぞれの場所", "Hello-Another-Way--fc4qua05auwb3674vfr0b"),
        ("ひとつ屋根の下2", "2-u9tlzr9756bt3uc0v"),
        ("MajiでKoiする5秒前", "MajiKoi5-783gue6qz075azm5e"),
        ("パフィーdeルンバ", "de-jg4avhby1noc0d"),
        ("そのスピードで", "d9juau41awczczp"),
        ("-> $1.00 <-", "-> $1.00 <--"),
        ("例え", "r8jz45g"),
        ("bücher", "bcher-kva"),
    ])
    func punycodeMatchesTheRFCSamples(_ input: String, _ expected: String) {
        #expect(Punycode.encode(Array(input.unicodeScalars)) == expected)
    }
}
