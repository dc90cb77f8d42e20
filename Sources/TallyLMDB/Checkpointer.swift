import CLMDB
import Foundation

/// Makes journaled commits durable in `data.mdb` in the background and moves the pin
/// (docs/STORAGE.md, "The journaled mode").
///
/// The writer starts a checkpoint right after a commit: it pins that snapshot with a read
/// transaction, copies the meta pages and switches the journal to its other file. This thread then
/// flushes `data.mdb` (every page of the snapshot, and maybe some later ones), saves the checkpoint
/// file, and only then ends the previous pin, so some durable checkpoint's pages stay untouched
/// at every moment. One checkpoint runs at a time.
final class Checkpointer: @unchecked Sendable {
    struct Request {
        let pin: OpaquePointer
        let checkpoint: Checkpoint
    }

    private let environment: Environment
    private let condition = NSCondition()
    private var pending: Request?
    private var busy = false
    private var stopping = false
    private var failure: LMDBError?
    /// The read transaction on the newest durable checkpoint's snapshot.
    private var pin: OpaquePointer?
    private let finished = DispatchSemaphore(value: 0)

    init(environment: Environment, pin: OpaquePointer) {
        self.environment = environment
        self.pin = pin
        let thread = Thread { [self] in self.run() }
        thread.name = "tally-checkpoint"
        thread.start()
    }

    /// Whether a checkpoint is being made.
    var isBusy: Bool {
        condition.lock()
        defer { condition.unlock() }
        return busy
    }

    /// The failure of the last checkpoint, if one failed (the store must turn read-only).
    var lastFailure: LMDBError? {
        condition.lock()
        defer { condition.unlock() }
        return failure
    }

    /// Hands over a checkpoint; call only when not busy.
    func start(_ request: Request) {
        condition.lock()
        precondition(!busy, "one checkpoint at a time")
        busy = true
        pending = request
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until no checkpoint runs; returns the failure of the last one, if any.
    @discardableResult
    func waitUntilIdle() -> LMDBError? {
        condition.lock()
        defer { condition.unlock() }
        while busy { condition.wait() }
        return failure
    }

    /// Waits for the checkpoint in flight, ends the thread and the pin.
    func stop() {
        condition.lock()
        while busy { condition.wait() }
        stopping = true
        condition.broadcast()
        condition.unlock()
        finished.wait()
        if let pin { mdb_txn_abort(pin) }
        pin = nil
    }

    /// Writes `data.mdb`'s dirty pages back one file window at a time, waiting for each, before
    /// the checkpoint's `fdatasync`: a single flush of a whole interval's pages fills the device
    /// queue, and every journal flush meanwhile (an acknowledgement) waits behind it. Pacing only:
    /// durability comes from the `fdatasync` after it.
    private func writeBackGradually() {
        let path = MetaPages.dataPath(environment.path)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { return }
        let size = Int(status.st_size)
        let window = Checkpointer.writeBackWindow
        var offset = 0
        while offset < size {
            if tally_write_back_range(fd, Int64(offset), Int64(window)) != 0 { return }
            offset += window
        }
    }

    /// Bytes of `data.mdb` written back at a time (``writeBackGradually()``). Each window is one
    /// round trip to the device, so small windows make a pass over a large file slow (1 MiB: about
    /// 17,000 waits at 17 GB), and a slow checkpoint pins pages longer (docs/STORAGE.md).
    static let writeBackWindow = 16 << 20

    private func run() {
        while true {
            condition.lock()
            while pending == nil && !stopping { condition.wait() }
            guard let request = pending else {
                condition.unlock()
                finished.signal()
                return
            }
            pending = nil
            condition.unlock()

            let outcome = Result { () throws(LMDBError) in
                environment.options.checkpointWriting?()
                writeBackGradually()
                try environment.sync()
                try request.checkpoint.save(environment.path)
            }
            condition.lock()
            switch outcome {
            case .success:
                if let pin { mdb_txn_abort(pin) }
                pin = request.pin
            case .failure(let error):
                mdb_txn_abort(request.pin)  // the older checkpoint stays the durable one
                failure = error
            }
            busy = false
            condition.broadcast()
            condition.unlock()
        }
    }
}
