import Foundation
import Synchronization
import Tally

/// What a command prints while the store's writable open backfills (docs/DEFINITIONS.md): a
/// resumed change, views new to the definitions given, states rebuilt from an older layout. On a
/// large store that takes minutes, and the command waits for it.
enum OpenProgress {
    /// Options whose open prints the backfill's progress as `command: building view state …`, at
    /// most one line per 5 s and the last, on `output` (standard error unless the command's
    /// standard output is a log, as `tally serve`'s is).
    static func options(_ command: String, output: FileHandle = .standardError) -> Tally.Options {
        var options = Tally.Options()
        options.openBackfillProgress = reporter(command, output: output)
        return options
    }

    static func reporter(_ command: String, output: FileHandle) -> @Sendable (DefinitionsProgress) -> Void {
        let lastLine = Mutex<ContinuousClock.Instant?>(nil)
        return { progress in
            let done = progress.next > progress.target
            let now = ContinuousClock.now
            let due = lastLine.withLock { last in
                guard done || last.map({ now - $0 >= .seconds(5) }) ?? true else { return false }
                last = now
                return true
            }
            guard due else { return }
            let replayedUpTo = min(progress.next.rawValue - 1, progress.target.rawValue)
            let line =
                "\(command): building view state for definitions version \(progress.version) before serving: "
                + "\(progress.replayedEvents) events replayed, up to lsn \(replayedUpTo) of \(progress.target.rawValue)"
                + (done ? " (done)\n" : "\n")
            output.write(Data(line.utf8))
        }
    }
}
