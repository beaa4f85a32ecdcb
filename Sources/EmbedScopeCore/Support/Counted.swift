/// "1 image", "3 images", "1 class", "2 classes": a count with its noun, for messages.
/// The plural is the noun + "s", or + "es" after s, x, z, ch and sh, unless `plural` is given.
public func counted(_ n: Int, _ noun: String, plural: String? = nil) -> String {
    if n == 1 { return "1 \(noun)" }
    if let plural { return "\(n) \(plural)" }
    let es = ["s", "x", "z", "ch", "sh"].contains { noun.hasSuffix($0) }
    return "\(n) \(noun)\(es ? "es" : "s")"
}
