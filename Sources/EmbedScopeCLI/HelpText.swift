/// A command's `discussion` as ArgumentParser should get it. ArgumentParser wraps each line of a
/// discussion on its own to the terminal's width, so a paragraph written over several source
/// lines printed as ragged lines ("… from --model (its" / "penultimate features), …"). Here the
/// lines of a sentence are joined: a source line break is kept only after a line that ends a
/// sentence or introduces a list (`.`, `:`, `!`, `?`, optionally before a closing bracket or
/// quote), before a list item (`- `, `* `, an indented line), and around empty lines (paragraphs).
func reflow(_ text: String) -> String {
    var out: [String] = []
    var joinable = false
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let line = String(raw)
        let trimmed = line.trimmingTrailingSpaces()
        let item = trimmed.hasPrefix("- ") || trimmed.hasPrefix("* ") || trimmed.hasPrefix(" ")
        if trimmed.isEmpty {
            out.append("")
            joinable = false
            continue
        }
        if joinable && !item, let last = out.popLast() {
            out.append(last + " " + trimmed)
        } else {
            out.append(trimmed)
        }
        joinable = !endsSentence(trimmed)
    }
    return out.joined(separator: "\n")
}

private func endsSentence(_ line: String) -> Bool {
    var s = Substring(line)
    while let c = s.last, ")]\"'`".contains(c) { s = s.dropLast() }
    guard let c = s.last else { return true }
    return ".:!?".contains(c)
}

private extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
