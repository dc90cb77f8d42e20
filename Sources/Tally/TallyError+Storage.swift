import TallyLMDB

extension TallyError {
    /// Maps a binding error to the public error; `path` names the store in messages.
    static func fromStorage(_ error: any Error, path: String) -> TallyError {
        switch error {
        case let error as TallyError:
            return error
        case let error as WriterError:
            switch error {
            case .closed:
                return TallyError(.closed, "the store at \(path) is closed")
            case .overloaded(let pending):
                return TallyError(
                    .overloaded,
                    "the write queue is full (\(pending) \(pending == 1 ? "request is" : "requests are") waiting); "
                        + "retry after a short delay")
            case .readOnly(let cause):
                return TallyError(
                    .storeReadOnly,
                    "an earlier commit failed (\(cause.reason)); the store at \(path) is read-only. "
                        + "Check the disk, then restart the process to recover from the last durable commit",
                    cause: cause)
            }
        case let error as EnvironmentError:
            switch error {
            case .writerLocked:
                return TallyError(
                    .storeBusy,
                    "another process is writing to the store at \(path); stop it, or send writes through it")
            case .missingDatabase(let name) where [StoreLayout.marks.name, StoreLayout.decisions.name].contains(name):
                return TallyError(
                    .unsupportedFormat,
                    "the store at \(path) is in on-disk format 2, from before lists, flags and decisions; open it once for "
                        + "writing (tally doctor, or tally serve) to upgrade it to format \(StoreLayout.formatVersion)")
            case .missingDatabase(let name):
                return TallyError(
                    .storeNotFound,
                    "no Tally store at \(path) (database '\(name)' missing); create it by opening it for writing")
            case .recoveryNeedsExclusiveAccess:
                return TallyError(
                    .storeBusy,
                    "the store at \(path) was not closed cleanly and its journal must be recovered, but another "
                        + "process has it open; stop readers of the store (tally stats, tally get …) and open it again")
            case .needsRecovery:
                return TallyError(
                    .notReady,
                    "the store at \(path) was not closed cleanly and its journal has not been recovered; open it for "
                        + "writing once (tally doctor --data-dir \(path), or tally serve) before reading it")
            case .filesystem(let file, let errno):
                return TallyError(.storageFailure, "cannot create or open \(file) (errno \(errno))", cause: error)
            }
        case let error as LMDBError:
            if error.isNoSpace {
                return TallyError(.diskFull, "the disk holding \(path) is full; free space and restart", cause: error)
            }
            if error.status == 2 {  // ENOENT from mdb_env_open in read-only mode
                return TallyError(.storeNotFound, "no Tally store at \(path)", cause: error)
            }
            return TallyError(.storageFailure, "storage failure in \(error.operation): \(error.reason)", cause: error)
        default:
            return TallyError(.storageFailure, "unexpected failure: \(error)")
        }
    }
}
