import Foundation

/// The SVG chart, written by hand: read-latency percentiles at 1 client (log scale), ingest
/// events/s, and reads/s at 4 clients.
struct Chart {
    let report: Report
    private let colors = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ]
    private let width = 1120.0

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }

    func svg() -> String {
        var body = ""
        var y = 20.0
        body += latencyPanel(top: &y)
        body += barPanel(
            title: "Ingest, events/s (one request of \(report.batch) events in flight)", top: &y,
            bars: report.systems.map { ($0.label, $0.ingest.eventsPerSecond) })
        body += barPanel(
            title: "Reads/s, 4 clients", top: &y,
            bars: report.systems.flatMap { system in
                system.reads.filter { $0.clients == 4 }.map {
                    ("\(system.label) · \($0.mode.rawValue)", $0.readsPerSecond)
                }
            })
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(y + 10))" \
            font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            \(body)</svg>

            """
    }

    private func latencyPanel(top: inout Double) -> String {
        let series = report.systems.flatMap { system in
            system.reads.filter { $0.clients == 1 }.map { ("\(system.label) · \($0.mode.rawValue)", $0.latency) }
        }
        let labels = ["p50", "p90", "p99", "p99.9", "p99.99", "max"]
        let left = 70.0
        let plotWidth = 520.0
        let height = 300.0
        let y0 = top + 30
        let values = series.flatMap { [$0.1.p50, $0.1.p90, $0.1.p99, $0.1.p999, $0.1.p9999, $0.1.max] }
        let low = floor(log10(max(1, values.min() ?? 1)))
        let high = ceil(log10(max(10, values.max() ?? 10)))
        func yOf(_ micros: Double) -> Double { y0 + height - (log10(max(micros, 1)) - low) / (high - low) * height }
        func xOf(_ index: Int) -> Double { left + Double(index) * plotWidth / Double(labels.count - 1) }
        var out =
            "<text x=\"\(left)\" y=\"\(top + 14)\" font-size=\"15\" font-weight=\"bold\">Read latency per vector, 1 client (log scale)</text>\n"
        var decade = low
        while decade <= high {
            let yy = yOf(pow(10, decade))
            let text = decade >= 3 ? "\(Int(pow(10, decade - 3))) ms" : "\(Int(pow(10, decade))) µs"
            out += "<line x1=\"\(left)\" y1=\"\(yy)\" x2=\"\(left + plotWidth)\" y2=\"\(yy)\" stroke=\"#ddd\"/>"
            out += "<text x=\"\(left - 6)\" y=\"\(yy + 4)\" text-anchor=\"end\">\(text)</text>\n"
            decade += 1
        }
        for (index, label) in labels.enumerated() {
            out += "<text x=\"\(xOf(index))\" y=\"\(y0 + height + 16)\" text-anchor=\"middle\">\(label)</text>\n"
        }
        for (index, (name, latency)) in series.enumerated() {
            let color = colors[index % colors.count]
            let points = [latency.p50, latency.p90, latency.p99, latency.p999, latency.p9999, latency.max].enumerated()
                .map { "\(xOf($0.offset)),\(yOf($0.element))" }.joined(separator: " ")
            let dash = name.hasPrefix("tally") ? "" : " stroke-dasharray=\"5,3\""
            out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dash) points=\"\(points)\"/>\n"
            let ly = y0 + Double(index) * 18
            out +=
                "<line x1=\"\(left + plotWidth + 20)\" y1=\"\(ly)\" x2=\"\(left + plotWidth + 44)\" y2=\"\(ly)\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>"
            out += "<text x=\"\(left + plotWidth + 50)\" y=\"\(ly + 4)\">\(escape(name))</text>\n"
        }
        top = y0 + height + 40
        return out
    }

    private func barPanel(title: String, top: inout Double, bars: [(String, Double)]) -> String {
        let left = 400.0
        let plotWidth = width - left - 90
        let rowHeight = 20.0
        let maximum = max(bars.map(\.1).max() ?? 1, 1)
        var out = "<text x=\"10\" y=\"\(top + 14)\" font-size=\"15\" font-weight=\"bold\">\(escape(title))</text>\n"
        var yy = top + 26
        for (index, (name, value)) in bars.enumerated() {
            let color = name.hasPrefix("tally") ? "#1f77b4" : colors[(index % (colors.count - 1)) + 1]
            let barWidth = value / maximum * plotWidth
            out += "<text x=\"\(left - 6)\" y=\"\(yy + 14)\" text-anchor=\"end\">\(escape(name))</text>"
            out +=
                "<rect x=\"\(left)\" y=\"\(yy + 2)\" width=\"\(barWidth)\" height=\"\(rowHeight - 4)\" fill=\"\(color)\"/>"
            out += "<text x=\"\(left + barWidth + 4)\" y=\"\(yy + 14)\">\(Int(value))</text>\n"
            yy += rowHeight
        }
        top = yy + 20
        return out
    }
}
