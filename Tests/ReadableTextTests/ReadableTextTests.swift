import Foundation
import ReadableText
import ReadingListModel
import Testing

private func fixture(_ name: String) throws -> String {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
    return try String(contentsOf: url, encoding: .utf8)
}

@Suite struct ReadableTextFixtureTests {
    @Test func newsPageCopiedAsText() throws {
        let document = ReadableText.extract(try fixture("putin-security-guarantees.txt"))
        #expect(document.title == "Putin urges West to act quickly to offer security guarantees")
        #expect(document.language == "en")
        #expect(document.siteName == "NPR")
        #expect(document.byline == nil)
        // Every paragraph of the story, in order, from the dateline to the last one.
        let paragraphs = document.body.components(separatedBy: "\n\n")
        #expect(paragraphs.first?.hasPrefix("MOSCOW (AP) — Russian President Vladimir Putin urged the West") == true)
        #expect(paragraphs.last?.hasPrefix("Russia annexed Ukraine's Crimean Peninsula in 2014") == true)
        #expect(paragraphs.count == 11)
        for sentence in [
            "\"We want to ensure our security,\" Putin said.",
            "A key principle of the NATO alliance is that membership is open to any qualifying country.",
            "He said Russia can't keep living in constant anticipation",
            "Putin has denied having plans to launch an attack",
        ] {
            #expect(document.body.contains(sentence), "missing: \(sentence)")
        }
        // None of the clutter: player controls, sponsor breaks, repeated captions, the appeal, the credits.
        for clutter in [
            "Sponsored message", "0:00", "Subscribe", "Listen", "laist logo", "Next Up", "NPR News", "Russian President Vladimir Putin during his annual",
            "Copyright 2021 NPR", "You come to LAist", "lost $1.7M", "monthly member", "tax-deductible", "Editor in Chief", "Audience-funded",
        ] {
            #expect(!document.body.contains(clutter), "kept: \(clutter)")
        }
        #expect(document.excerpt?.hasPrefix("MOSCOW (AP) — Russian President Vladimir Putin urged") == true)
        #expect(document.excerpt.map { $0.count <= 301 } == true)
        #expect(document.wordCount == ReadableText.wordCount(document.body))
        #expect((360...390).contains(document.wordCount))
        #expect(document.readingMinutes == 2)
    }

    @Test func newsPageInHTMLWithBoilerplate() throws {
        let document = ReadableText.extract(try fixture("harbour-news.html"))
        #expect(document.title == "Harbour wall to be rebuilt after winter storms")
        #expect(document.byline == "Mairi Campbell")
        #expect(document.siteName == "The Coastal Gazette")
        #expect(document.language == "en-GB")
        #expect(document.excerpt == "The council approved £4.2m to rebuild the eastern harbour wall, which was breached twice in January.")
        let paragraphs = document.body.components(separatedBy: "\n\n")
        #expect(paragraphs.first?.hasPrefix("The eastern harbour wall will be rebuilt this summer after councillors approved £4.2m") == true)
        #expect(paragraphs.contains("Work to start in May"))
        #expect(document.body.contains("the foundations, laid in 1887, had been undermined"))
        #expect(document.body.contains("“We cannot afford another winter like this one,” said harbour master Ewan Ross."))
        #expect(paragraphs.last == "The council will also install sensors to warn of surges, a measure residents have asked for since the storms of 2014.")
        for clutter in [
            "Skip to", "Home", "Weather", "cookies", "Share on", "Photo: Harbour Trust", "Advertisement", "ferries", "Related stories",
            "Storm Isha", "newsletter", "Subscribe", "Comments", "about time", "All rights reserved", "Privacy", "not text", "color: red",
            "14 February 2024", "By Mairi",
        ] {
            #expect(!document.body.contains(clutter), "kept: \(clutter)")
        }
        #expect(paragraphs.count == 5)
    }

    @Test func blogPostInMarkdown() throws {
        let document = ReadableText.extract(try fixture("static-site-blog.md"))
        #expect(document.title == "Why I moved my blog to a static site generator")
        #expect(document.byline == "Jane Doe")
        #expect(document.language == "en")
        let paragraphs = document.body.components(separatedBy: "\n\n")
        #expect(paragraphs.first == "For nine years my blog ran on a database-backed CMS. It worked, mostly, but every upgrade was a small adventure and the server bill kept growing while the number of posts I wrote kept shrinking.")
        #expect(paragraphs.contains("What I gained"))
        #expect(paragraphs.contains("• No database to back up or patch"))
        #expect(paragraphs.last?.hasPrefix("Comments were the hardest thing to give up.") == true)
        for clutter in ["Home", "Archive", "Posted on", "Share on", "Copy link", "Thanks for reading", "newsletter", "Leave a comment", "Tags:", "6 min read"] {
            #expect(!document.body.contains(clutter), "kept: \(clutter)")
        }
    }

    @Test func blogPostInHTMLWithoutArticleElement() throws {
        let document = ReadableText.extract(try fixture("recipe-blog.html"))
        #expect(document.title == "Rye sourdough, the slow way")
        #expect(document.siteName == "Crumb Diaries")
        #expect(document.byline == "Tomas Lindqvist")
        let paragraphs = document.body.components(separatedBy: "\n\n")
        #expect(paragraphs.count == 3)
        #expect(paragraphs.first?.hasPrefix("Rye behaves nothing like wheat.") == true)
        #expect(paragraphs.last?.hasPrefix("Bake it hot for the first twenty minutes") == true)
        for clutter in ["Recipes", "Shop", "Share this post", "Pinterest", "Patreon", "About me", "Written by"] {
            #expect(!document.body.contains(clutter), "kept: \(clutter)")
        }
    }

    @Test func plainNoteIsKeptWhole() throws {
        let content = try fixture("plain-note.txt")
        let document = ReadableText.extract(content)
        #expect(document.title == "Questions for the landlord")
        #expect(document.body == content.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: "\n\n"))
        #expect(document.byline == nil && document.siteName == nil)
        #expect(document.language == "en")
        #expect(document.excerpt == nil)
        #expect(document.wordCount == 25)
        #expect(document.readingMinutes == 1)
    }

    @Test(arguments: ["putin-security-guarantees.txt", "harbour-news.html", "static-site-blog.md", "plain-note.txt", "recipe-blog.html"])
    func extractionIsDeterministic(_ name: String) throws {
        let content = try fixture(name)
        let first = ReadableText.extract(content)
        #expect(ReadableText.extract(content) == first)
        // The body is what it says: reading it again keeps it (nothing left to clean).
        #expect(!first.body.isEmpty)
        #expect(first.wordCount == ReadableText.wordCount(first.body))
    }
}

@Suite struct ReadableTextRuleTests {
    @Test func fillingKeepsWhatTheArticleHolds() throws {
        let document = ReadableText.extract(try fixture("harbour-news.html"))
        let id = ArticleID(unchecked: String(repeating: "a", count: 32))
        var article = Article(id: id, url: "https://example.com/a", normalizedURL: "https://example.com/a", title: "My own title", language: "de")
        article = document.filling(article)
        #expect(article.title == "My own title")
        #expect(article.language == "de")
        #expect(article.author == "Mairi Campbell")
        #expect(article.siteName == "The Coastal Gazette")
        #expect(article.excerpt == document.excerpt)
        #expect(article.wordCount == document.wordCount)
    }

    @Test func htmlIsToleratedWhenBroken() {
        let document = ReadableText.extract("<div><p>First paragraph with <b>bold <i>nested</b> text &amp; more<p>Second <br>line &#x263A; &bogus; &#0;<li>stray item</div></span></p>")
        #expect(document.body.contains("First paragraph with bold nested text & more"))
        #expect(document.body.contains("Second line ☺ &bogus;"))
        #expect(document.body.contains("stray item"))
    }

    @Test func textThatMentionsTagsIsNotHTML() {
        let document = ReadableText.extract("I <3 this. If x < y and y > z then we know something about the three values x, y and z.")
        #expect(document.body == "I <3 this. If x < y and y > z then we know something about the three values x, y and z.")
    }

    @Test func languagesAreRecognisedFromCommonWords() {
        let french = "Le conseil municipal a voté mardi le budget de la reconstruction du mur du port, qui avait été détruit par les tempêtes de janvier. Les pêcheurs sont soulagés et la saison pourra commencer à temps pour tous les bateaux."
        let german = "Der Gemeinderat hat am Dienstag das Budget für den Wiederaufbau der Hafenmauer beschlossen, die im Januar von den Stürmen zerstört wurde. Die Fischer sind erleichtert und die Saison kann für alle Boote rechtzeitig beginnen."
        #expect(ReadableText.extract(french).language == "fr")
        #expect(ReadableText.extract(german).language == "de")
        #expect(ReadableText.extract("Too short to tell.").language == nil)
    }

    @Test func readingTimeFollowsWordCount() {
        #expect(ReadableText.readingMinutes(wordCount: 0) == 0)
        #expect(ReadableText.readingMinutes(wordCount: 1) == 1)
        #expect(ReadableText.readingMinutes(wordCount: 238 * 5) == 5)
        #expect(ReadableText.wordCount("It's a well-known fact — 42 times.") == 6)
        #expect(ReadableText.wordCount("東京で会議") == 5)
    }
}
