import ArgumentParser
import SyncCore

/// `readinglist unread`: mark an article unread (read again).
package struct MarkUnread: FlagCommand {
    package static let configuration = CommandConfiguration(commandName: "unread", abstract: "Mark unread (\"read again\": progress restarts at 0).")
    package static let field = Fields.isRead, value = false
    @OptionGroup package var database: DatabaseOption
    @Argument(help: ArticleRef.help) package var article: String

    package init() {}
}
