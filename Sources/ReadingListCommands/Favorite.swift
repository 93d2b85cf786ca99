import ArgumentParser
import SyncCore

/// `readinglist favorite`: mark an article as a favourite.
package struct Favorite: FlagCommand {
    package static let configuration = CommandConfiguration(abstract: "Mark as favourite.")
    package static let field = Fields.isFavorite, value = true
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) package var article: String

    package init() {}
}
