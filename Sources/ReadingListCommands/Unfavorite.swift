import ArgumentParser
import SyncCore

/// `readinglist unfavorite`: unmark an article as a favourite.
package struct Unfavorite: FlagCommand {
    package static let configuration = CommandConfiguration(abstract: "Unmark as favourite.")
    package static let field = Fields.isFavorite, value = false
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) package var article: String

    package init() {}
}
