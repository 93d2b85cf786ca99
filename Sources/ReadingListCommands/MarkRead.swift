import ArgumentParser
import SyncCore

/// `readinglist read`: mark an article read.
package struct MarkRead: FlagCommand {
    package static let configuration = CommandConfiguration(commandName: "read", abstract: "Mark read.")
    package static let field = Fields.isRead, value = true
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) package var article: String

    package init() {}
}
