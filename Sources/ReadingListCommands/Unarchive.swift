import ArgumentParser
import SyncCore

/// `readinglist unarchive`: unarchive an article.
package struct Unarchive: FlagCommand {
    package static let configuration = CommandConfiguration(abstract: "Unarchive.")
    package static let field = Fields.isArchived, value = false
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) package var article: String

    package init() {}
}
