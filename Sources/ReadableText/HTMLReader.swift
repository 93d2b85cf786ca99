/// What a page's markup says of itself (`<title>`, `<meta>`, `lang`).
struct Metadata {
    var title: String?
    var byline: String?
    var siteName: String?
    var excerpt: String?
    var language: String?
}

/// Assembles a document from the cleaned blocks and the page's metadata.
enum Document {
    static func make(_ result: Cleaner.Result, metadata: Metadata) -> ReadableDocument {
        var blocks = result.body
        let title = metadata.title ?? result.title
        // The headline and the byline are fields of their own, not the body's first lines.
        if !result.isNote, let title, let first = blocks.first, first.isHeading || first.kind == .line, Cleaner.key(first.text) == Cleaner.key(title) {
            blocks.removeFirst()
        }
        let byline = metadata.byline ?? result.byline
        if let byline, let index = blocks.prefix(3).firstIndex(where: { $0.words <= 16 && Cleaner.byline(in: $0) == byline }) {
            blocks.remove(at: index)
        }
        let body = blocks.map { $0.kind == .item ? "• " + $0.text : $0.text }.joined(separator: "\n\n")
        let wordCount = blocks.reduce(0) { $0 + $1.words }
        // (A note is its own summary: no excerpt.)
        let excerpt = metadata.excerpt.map { shortened($0, to: 300) }
            ?? (result.isNote ? nil : blocks.first(where: \.isProse).map { shortened($0.text, to: 300) })
        let language = metadata.language ?? Language.detect(body)
        return ReadableDocument(
            title: title.map { shortened($0, to: 300) }, byline: byline.map { shortened($0, to: 200) },
            siteName: (metadata.siteName ?? result.siteName.flatMap { $0.isEmpty ? nil : $0 }).map { shortened($0, to: 200) },
            excerpt: excerpt, language: language, body: body, wordCount: wordCount)
    }

    /// At most `limit` characters, cut at a word and ended with "…".
    static func shortened(_ text: String, to limit: Int) -> String {
        let text = Whitespace.collapse(text)
        guard text.count > limit else { return text }
        var cut = String(text.prefix(limit))
        if let space = cut.lastIndex(of: " "), cut.distance(from: cut.startIndex, to: space) > limit / 2 {
            cut = String(cut[cut.startIndex..<space])
        }
        while let last = cut.last, ",;:-–— ".contains(last) { cut.removeLast() }
        return cut + "…"
    }
}

/// Reads HTML: metadata from `<head>`, the story from the element that holds
/// the most running text, with the page's furniture (navigation, headers and
/// footers, forms, asides, share and subscribe boxes) left out by element,
/// role and class before the text rules run.
enum HTMLReader {
    static func read(_ html: String) -> ReadableDocument {
        let root = HTMLTree.parse(html)
        let metadata = metadata(of: root)
        let container = storyContainer(in: root)
        var blocks: [Block] = []
        var inline = ""
        collect(container, into: &blocks, inline: &inline)
        flushInline(&inline, into: &blocks)
        var result = Cleaner.clean(blocks, dropsHeader: false, notes: false)
        if metadata.title == nil, result.title == nil {
            result.title = root.first(where: { $0.name == "h1" })?.textContent.nonEmpty
        }
        return Document.make(result, metadata: metadata)
    }

    // MARK: Metadata

    static func metadata(of root: HTMLNode) -> Metadata {
        var metas: [String: String] = [:]
        var found: [HTMLNode] = []
        root.all(where: { $0.name == "meta" }, into: &found)
        for meta in found {
            guard let content = meta.attributes["content"].map(Whitespace.collapse), !content.isEmpty else { continue }
            for key in [meta.attributes["property"], meta.attributes["name"], meta.attributes["itemprop"], meta.attributes["http-equiv"]] {
                if let key = key?.lowercased(), metas[key] == nil { metas[key] = content }
            }
        }
        var data = Metadata()
        let h1 = root.first(where: { $0.name == "h1" && !isFurniture($0) })?.textContent.nonEmpty
        let documentTitle = root.first(where: { $0.name == "title" })?.textContent.nonEmpty
        data.siteName = metas["og:site_name"] ?? metas["application-name"] ?? metas["publisher"]
        data.title = metas["og:title"] ?? metas["twitter:title"] ?? h1 ?? documentTitle.map { cleanTitle($0, siteName: data.siteName) }
        let author = metas["author"] ?? metas["article:author"] ?? metas["byl"] ?? metas["sailthru.author"]
        if let author, !author.contains("://") {
            data.byline = stripBy(author)
        } else if let element = root.first(where: { node in
            node.attributes["rel"] == "author" || node.attributes["itemprop"] == "author"
                || node.classAndID.contains { $0.contains("byline") || $0 == "author" || $0.hasSuffix("-author") }
        }) {
            let text = element.textContent
            if (1...12).contains(ReadableText.wordCount(text)) { data.byline = stripBy(text) }
        }
        data.excerpt = metas["description"] ?? metas["og:description"] ?? metas["twitter:description"]
        let lang = root.first(where: { $0.name == "html" })?.attributes["lang"] ?? metas["content-language"] ?? metas["og:locale"]
        data.language = lang.flatMap(Language.normalizedTag)
        return data
    }

    /// "Story title | Site" or "Story title - Site": the story's part.
    static func cleanTitle(_ title: String, siteName: String?) -> String {
        for separator in [" | ", " – ", " — ", " - ", " :: ", " · "] {
            let parts = title.components(separatedBy: separator)
            guard parts.count >= 2 else { continue }
            if let siteName, let index = parts.firstIndex(where: { Cleaner.key($0) == Cleaner.key(siteName) }) {
                var rest = parts
                rest.remove(at: index)
                return rest.joined(separator: separator)
            }
            let longest = parts.max(by: { $0.count < $1.count })!
            if ReadableText.wordCount(longest) >= 3 { return longest.trimmingSpaces }
        }
        return title
    }

    static func stripBy(_ text: String) -> String {
        var text = Whitespace.collapse(text)
        if text.lowercased().hasPrefix("by ") { text = String(text.dropFirst(3)) }
        return text.trimming(" ,")
    }

    // MARK: The story's element

    static let furnitureElements: Set<String> = [
        "script", "style", "noscript", "template", "svg", "canvas", "iframe", "form", "button", "input", "select", "textarea",
        "nav", "aside", "footer", "header", "figcaption", "img", "picture", "video", "audio", "object", "embed", "dialog", "menu",
        "head", "title", "meta", "link",
    ]
    static let furnitureRoles: Set<String> = ["navigation", "banner", "contentinfo", "complementary", "dialog", "alertdialog", "search", "menu", "menubar"]
    /// Parts of `class` and `id` (split at `-` and `_`) that name furniture.
    static let furnitureNames: Set<String> = [
        "nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs", "share", "sharing", "social", "subscribe", "subscription",
        "newsletter", "signup", "promo", "sponsor", "sponsored", "advert", "advertisement", "ad", "ads", "banner", "cookie", "cookies",
        "consent", "popup", "modal", "related", "recommended", "recirculation", "comment", "comments", "footer", "sidebar", "widget",
        "donate", "donation", "paywall", "toolbar", "player", "skip", "masthead", "outbrain", "taboola", "disqus", "hidden",
    ]

    /// Whether `node` is the page's furniture, not its story.
    static func isFurniture(_ node: HTMLNode) -> Bool {
        if furnitureElements.contains(node.name) { return true }
        if node.attributes["hidden"] != nil || node.attributes["aria-hidden"] == "true" { return true }
        if let role = node.attributes["role"], furnitureRoles.contains(role.lowercased()) { return true }
        if let style = node.attributes["style"]?.lowercased().filter({ $0 != " " }), style.contains("display:none") { return true }
        guard !["html", "body", "article", "main"].contains(node.name) else { return false }
        for token in node.classAndID {
            for part in token.split(whereSeparator: { $0 == "-" || $0 == "_" }) where furnitureNames.contains(String(part)) { return true }
        }
        return false
    }

    /// The element whose text is the story: the `<article>` (or `<main>`)
    /// holding the most paragraph text; otherwise the element whose own
    /// paragraphs hold the most text; otherwise the body.
    static func storyContainer(in root: HTMLNode) -> HTMLNode {
        var candidates: [HTMLNode] = []
        root.all(where: { ($0.name == "article" || $0.name == "main" || $0.attributes["role"] == "main") && !insideFurniture($0) }, into: &candidates)
        let best = candidates.max { paragraphText($0) < paragraphText($1) }
        if let best, paragraphText(best) >= 200 { return best }
        // Score each element by the text of its paragraphs (children count fully, grandchildren half).
        var paragraphs: [HTMLNode] = []
        root.all(where: { $0.name == "p" || $0.name == "pre" }, into: &paragraphs)
        var scores: [ObjectIdentifier: (node: HTMLNode, score: Int, order: Int)] = [:]
        for (order, p) in paragraphs.enumerated() where !insideFurniture(p) {
            let length = p.textContent.count
            guard length >= 25 else { continue }
            let score = 1 + length / 100 + p.textContent.filter { $0 == "," }.count
            if let parent = p.parent {
                scores[ObjectIdentifier(parent), default: (parent, 0, order)].score += score * 2
                if let grandparent = parent.parent { scores[ObjectIdentifier(grandparent), default: (grandparent, 0, order)].score += score }
            }
        }
        // Highest score; ties to the element met first (deterministic).
        if let top = scores.values.max(by: { ($0.score, -$0.order) < ($1.score, -$1.order) }) { return top.node }
        return root.first(where: { $0.name == "body" }) ?? root
    }

    static func insideFurniture(_ node: HTMLNode) -> Bool {
        var current: HTMLNode? = node
        while let element = current {
            if isFurniture(element) { return true }
            current = element.parent
        }
        return false
    }

    static func paragraphText(_ node: HTMLNode) -> Int {
        var paragraphs: [HTMLNode] = []
        node.all(where: { $0.name == "p" }, into: &paragraphs)
        return paragraphs.filter { !insideFurniture($0) }.reduce(0) { $0 + $1.textContent.count }
    }

    // MARK: Blocks

    static func collect(_ node: HTMLNode, into blocks: inout [Block], inline: inout String) {
        for child in node.children {
            if child.isText {
                inline += child.text
                continue
            }
            if isFurniture(child) { continue }
            if child.name == "br" {
                inline += " "
                continue
            }
            guard HTMLTree.blockElements.contains(child.name) else {
                // Inline markup: its text joins the running paragraph.
                collect(child, into: &blocks, inline: &inline)
                continue
            }
            flushInline(&inline, into: &blocks)
            let hasBlocks = child.children.contains { !$0.isText && HTMLTree.blockElements.contains($0.name) && !isFurniture($0) }
            let name = child.name
            if !hasBlocks, name.count == 2, name.first == "h", let level = Int(String(name.dropFirst())) {
                blocks.append(Block(.heading(level), child.textContent))
            } else if !hasBlocks, name == "p" {
                blocks.append(Block(.paragraph, child.textContent))
            } else if !hasBlocks, name == "li" || name == "dd" || name == "dt" {
                blocks.append(Block(.item, child.textContent))
            } else if !hasBlocks, name == "blockquote" {
                blocks.append(Block(.quote, child.textContent))
            } else if name == "pre" {
                blocks.append(Block(.preformatted, child.textContent))
            } else {
                collect(child, into: &blocks, inline: &inline)
                flushInline(&inline, into: &blocks)
            }
        }
    }

    static func flushInline(_ inline: inout String, into blocks: inout [Block]) {
        let text = Whitespace.collapse(inline)
        inline = ""
        if !text.isEmpty { blocks.append(Block(.paragraph, text)) }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }

    /// The parts between occurrences of `separator` (no Foundation in this module).
    func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = self
        while let offset = rest.offset(of: separator) {
            parts.append(String(rest.prefix(offset)))
            rest = String(rest.dropFirst(offset + separator.count))
        }
        parts.append(rest)
        return parts
    }
}
