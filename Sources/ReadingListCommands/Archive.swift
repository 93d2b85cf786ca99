import ArgumentParser
import SyncCore

/// `readinglist archive`: archive an article.
package struct Archive: FlagCommand {
    package static let configuration = CommandConfiguration(abstract: "Archive.")
    package static let field = Fields.isArchived, value = true
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) package var article: String

    package init() {}
}
