import Foundation

/// A one-line progress bar on standard error, redrawn in place on a terminal and printed every
/// 10 % otherwise (logs, CI).
struct ProgressBar {
    let total: Int
    let label: String
    private let interactive = isatty(2) != 0
    private let started = ContinuousClock.now
    private var lastDrawn = ContinuousClock.now - .seconds(1)
    private var lastDecile = -1

    init(total: Int, label: String) {
        self.total = max(total, 1)
        self.label = label
    }

    /// `done` counts toward `total` (bytes read); `events` is what the line reports.
    mutating func update(_ done: Int, events: Int, force: Bool = false) {
        let fraction = min(1, Double(done) / Double(total))
        let elapsed = (ContinuousClock.now - started).seconds
        let rate = elapsed > 0 ? Double(events) / elapsed : 0
        if interactive {
            guard force || ContinuousClock.now - lastDrawn > .milliseconds(100) else { return }
            lastDrawn = .now
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(
                Data(String(format: "\r%@ %@ %3.0f%% %d events %.0f/s ", label, bar, fraction * 100, events, rate).utf8)
            )
            if force { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            let decile = Int(fraction * 10)
            guard decile != lastDecile else { return }
            lastDecile = decile
            FileHandle.standardError.write(
                Data(String(format: "%@ %3.0f%% %d events %.0f/s\n", label, fraction * 100, events, rate).utf8))
        }
    }
}

extension Duration {
    var seconds: Double {
        let (s, attos) = components
        return Double(s) + Double(attos) / 1e18
    }
}
