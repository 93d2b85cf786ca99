import ReadingListModel

/// What a page's content says about itself, and its readable body: the
/// story without the navigation, player controls, share and subscribe
/// prompts, donation appeals and repeated captions around it.
public struct ReadableDocument: Sendable, Hashable, Codable {
    /// The headline (nil when the content names none).
    public var title: String?
    /// The author(s), without a leading "By" (nil when none is named).
    public var byline: String?
    /// The publication (from the page's metadata or its copyright line).
    public var siteName: String?
    /// A short summary: the page's description, or the body's first paragraph, shortened.
    public var excerpt: String?
    /// A BCP 47 language tag (`en`, `fr`, `pt-BR`): the page's own, or recognised from common words.
    public var language: String?
    /// The readable text: paragraphs (and subheadings) separated by blank lines.
    public var body: String
    /// The words of ``body``.
    public var wordCount: Int

    /// Minutes to read ``body`` at ``ReadableText/wordsPerMinute``.
    public var readingMinutes: Int { ReadableText.readingMinutes(wordCount: wordCount) }

    package init(
        title: String? = nil, byline: String? = nil, siteName: String? = nil, excerpt: String? = nil, language: String? = nil,
        body: String, wordCount: Int
    ) {
        self.title = title
        self.byline = byline
        self.siteName = siteName
        self.excerpt = excerpt
        self.language = language
        self.body = body
        self.wordCount = wordCount
    }
}

/// Reads an article's content (plain text, Markdown-ish text or HTML) into a
/// ``ReadableDocument``.
///
/// Deterministic and pure: the same content gives the same document on every
/// platform and every replica (no locale, no clock, no platform parser), so
/// the readable body can be derived locally from the synced content instead
/// of being synced a second time.
public enum ReadableText {
    /// The version of the extraction rules. A replica stores the body it
    /// derived; a release that changes the rules raises this, and the replica
    /// derives its stored bodies again.
    package static let rulesVersion = 1

    /// Average silent reading speed used for ``ReadableDocument/readingMinutes``.
    public static let wordsPerMinute = 238

    /// Reads `content`: HTML when it holds HTML tags, text otherwise.
    public static func extract(_ content: String) -> ReadableDocument {
        if HTMLTree.looksLikeHTML(content) { return HTMLReader.read(content) }
        return TextReader.read(content)
    }

    /// Minutes to read `wordCount` words: at least 1 for any text, 0 for none.
    public static func readingMinutes(wordCount: Int) -> Int {
        wordCount <= 0 ? 0 : max(1, (wordCount + wordsPerMinute / 2) / wordsPerMinute)
    }

    /// The words of `text`: runs of letters and digits (a word with an
    /// apostrophe or hyphen inside is one), each CJK ideograph or kana counted as one.
    package static func wordCount(_ text: String) -> Int {
        var count = 0
        var inWord = false
        var previousJoiner = false
        for scalar in text.unicodeScalars {
            if scalar.value >= 0x3040, isIdeographic(scalar) {
                count += 1
                inWord = false
                continue
            }
            if Scalars.isWord(scalar) {
                if !inWord { count += 1 }
                inWord = true
                previousJoiner = false
            } else if inWord, !previousJoiner, scalar == "'" || scalar == "’" || scalar == "-" {
                previousJoiner = true
            } else {
                inWord = false
                previousJoiner = false
            }
        }
        return count
    }

    static func isIdeographic(_ scalar: Unicode.Scalar) -> Bool {
        (0x3040...0x30FF).contains(scalar.value) || (0x3400...0x4DBF).contains(scalar.value) || (0x4E00...0x9FFF).contains(scalar.value)
            || (0xF900...0xFAFF).contains(scalar.value) || (0x20000...0x2FA1F).contains(scalar.value)
    }
}

extension ReadableDocument {
    /// `article` with every metadata field it does not hold yet (nil) filled
    /// from this document: title, author (byline), site name, excerpt,
    /// language and word count. Fields it holds are left as they are.
    package func filling(_ article: Article) -> Article {
        var article = article
        if article.title == nil { article.title = title }
        if article.author == nil { article.author = byline }
        if article.siteName == nil { article.siteName = siteName }
        if article.excerpt == nil { article.excerpt = excerpt }
        if article.language == nil { article.language = language }
        if article.wordCount == nil, wordCount > 0 { article.wordCount = wordCount }
        return article
    }
}
