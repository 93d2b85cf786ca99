import ArgumentParser

/// What the `<article>` argument of every command takes.
package enum ArticleRef {
    package static let help: ArgumentHelp = "The article: its id, a unique prefix of it (4+ characters), or its URL (any spelling that normalises to it)."
}
