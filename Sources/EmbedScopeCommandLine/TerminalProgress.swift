import EmbedScope
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress display on stderr — count, rate, ETA — redrawn at most 10 times a
/// second, and only when stderr is a terminal: quiet when piped or in CI.
///
/// The line is cut to the terminal's width, read at each draw (a line that wrapped left its first
/// rows on the screen: a carriage return goes back to the start of the last row only). On a
/// terminal that has no escape sequences (`TERM=dumb`: an editor's shell buffer) the line is
/// cleared by writing spaces over it instead of `ESC [ K`.
package final class TerminalProgress: ProgressSink {
    private let enabled: Bool
    private let dumb: Bool
    package var isEnabled: Bool { enabled }
    private struct State {
        var label = ""
        var total: Int?
        var start = 0.0
        var lastDraw = 0.0
        var drawn = false
        /// Characters of the line on the screen (what a dumb terminal's clearing overwrites).
        var shown = 0
    }
    private let state = Locked(State())

    package init(enabled: Bool = isatty(STDERR_FILENO) == 1,
                 dumb: Bool = StandardStreams.terminalIsDumb) {
        self.enabled = enabled
        self.dumb = dumb
    }

    /// Columns of the terminal on stderr (80 when it does not say).
    private static func columns() -> Int { StandardStreams.errorColumns ?? 80 }

    /// `text` cut to one column short of the width (a line as wide as the terminal wraps on some),
    /// as it replaces the line drawn before. Measured in the terminal's columns: a wide character
    /// (CJK, emoji) takes two, so a label of them was cut too late and wrapped. Control characters
    /// in it (a file name in a label) are shown escaped: under `TERM=dumb` an ESC reached the
    /// terminal raw.
    package static func line(_ text: String, columns: Int, dumb: Bool, shown: Int) -> (bytes: String, shown: Int) {
        let room = max(1, columns - 1)
        let shownText = text.displayEscaped
        var cut = "", width = 0
        let total = shownText.reduce(0) { $0 + cells($1) }
        if total <= room {
            (cut, width) = (shownText, total)
        } else {
            for c in shownText {
                let w = cells(c)
                if width + w > room - 1 { break }
                cut.append(c); width += w
            }
            cut += "…"; width += 1
        }
        if dumb {
            return ("\r" + cut + String(repeating: " ", count: max(0, min(shown, room) - width)), width)
        }
        return ("\r\u{1B}[K" + cut, width)
    }

    /// Columns a character takes on a terminal: 2 for East Asian wide and fullwidth characters and
    /// emoji, 0 for a combining mark on its own, else 1 (the ranges of `wcwidth`, in short).
    package static func cells(_ c: Character) -> Int {
        let wide: [ClosedRange<UInt32>] = [0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
                                           0xA000...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
                                           0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x3FFFD]
        if c.unicodeScalars.contains(where: { s in wide.contains { $0.contains(s.value) } }) { return 2 }
        if let first = c.unicodeScalars.first, first.properties.generalCategory == .nonspacingMark { return 0 }
        return 1
    }

    /// Draws `text` over the line (called with the state locked).
    private func draw(_ text: String, _ st: inout State) {
        let (bytes, shown) = Self.line(text, columns: Self.columns(), dumb: dumb, shown: st.shown)
        StandardStreams.error(bytes)
        st.shown = shown
        st.drawn = true
    }

    /// Clears the line (called with the state locked).
    private func clear(_ st: inout State) {
        StandardStreams.error(dumb ? "\r" + String(repeating: " ", count: st.shown) + "\r" : "\r\u{1B}[K")
        st.shown = 0
        st.drawn = false
    }

    private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// A step of unknown length (`total` nil) is shown at once ("label …"), so a long silent step
    /// (reading a million-line manifest) does not look like a hang; counted steps draw on update.
    package func begin(_ label: String, total: Int?) {
        state.withLock { st in
            let (wasDrawn, shown) = (st.drawn, st.shown)
            st = State(label: label, total: total, start: Self.now())
            st.drawn = wasDrawn
            st.shown = shown
            guard enabled else { return }
            if total == nil { draw("\(label) …", &st) }
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
            var s = "\(st.label): \(done)"
            if let total = st.total {
                s += "/\(total) (\(total > 0 ? 100 * done / total : 100)%)"
                if rate > 0 && done < total { s += " · ETA \(Self.duration(Double(total - done) / rate))" }
            }
            s += String(format: " · %.0f/s", rate)
            draw(s, &st)
        }
    }

    package func end() {
        guard enabled else { return }
        state.withLock { st in
            if st.drawn { clear(&st) }
        }
    }

    package static func duration(_ s: Double) -> String {
        s < 60 ? String(format: "%.0fs", s) : s < 3600 ? String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) : String(format: "%dh%02dm", Int(s) / 3600, Int(s) / 60 % 60)
    }
}
