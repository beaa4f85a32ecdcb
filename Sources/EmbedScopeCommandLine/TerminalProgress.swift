import EmbedScope
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress display on stderr — count, rate, ETA — redrawn at most 10 times a
/// second, and only when stderr is a terminal: quiet when piped or in CI.
package final class TerminalProgress: ProgressSink {
    private let enabled: Bool
    package var isEnabled: Bool { enabled }
    private struct State {
        var label = ""
        var total: Int?
        var start = 0.0
        var lastDraw = 0.0
        var drawn = false
    }
    private let state = Locked(State())

    package init(enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.enabled = enabled
    }

    private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// A step of unknown length (`total` nil) is shown at once ("label …"), so a long silent step
    /// (reading a million-line manifest) does not look like a hang; counted steps draw on update.
    package func begin(_ label: String, total: Int?) {
        state.withLock { st in
            let wasDrawn = st.drawn
            st = State(label: label, total: total, start: Self.now())
            guard enabled else { return }
            if total == nil {
                StandardStreams.error("\r\u{1B}[K\(label) …")
                st.drawn = true
            } else {
                st.drawn = wasDrawn
            }
        }
    }

    package func update(_ done: Int) {
        guard enabled else { return }
        state.withLock { st in
            let t = Self.now()
            guard t - st.lastDraw >= 0.1 else { return }
            st.lastDraw = t
            let elapsed = max(t - st.start, 1e-9)
            let rate = Double(done) / elapsed
            var s = "\r\u{1B}[K\(st.label): \(done)"
            if let total = st.total {
                s += "/\(total) (\(total > 0 ? 100 * done / total : 100)%)"
                if rate > 0 && done < total { s += " · ETA \(Self.duration(Double(total - done) / rate))" }
            }
            s += String(format: " · %.0f/s", rate)
            StandardStreams.error(s)
            st.drawn = true
        }
    }

    package func end() {
        guard enabled else { return }
        state.withLock { st in
            if st.drawn { StandardStreams.error("\r\u{1B}[K") }
            st.drawn = false
        }
    }

    package static func duration(_ s: Double) -> String {
        s < 60 ? String(format: "%.0fs", s) : s < 3600 ? String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) : String(format: "%dh%02dm", Int(s) / 3600, Int(s) / 60 % 60)
    }
}
