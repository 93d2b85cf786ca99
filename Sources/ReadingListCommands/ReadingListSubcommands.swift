import ArgumentParser

/// The `readinglist` commands this library holds, in the order `readinglist --help` lists them.
/// The executable's root command lists these, then the commands that need ScenarioKit.
/// A scenario step parses its words with the same tree (see ``ReplicaCommand``).
package enum ReadingListSubcommands {
    package static var all: [any ParsableCommand.Type] {
        [
            Add.self, List.self, Search.self, Show.self, Edit.self,
            MarkRead.self, MarkUnread.self, Archive.self, Unarchive.self, Favorite.self, Unfavorite.self,
            Progress.self, TagCommand.self, Untag.self, Delete.self,
            HighlightCommand.self, Conflicts.self, Resolve.self, Explain.self,
            Import.self, Export.self,
            Sync.self, Watch.self, Move.self, Status.self, Log.self, ResetIdentity.self,
        ]
    }
}
