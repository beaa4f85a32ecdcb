/// Progress of a long step, reported by library code and rendered by the CLI (on a terminal
/// only). Library code never prints.
public protocol ProgressSink: AnyObject, Sendable {
    /// A step starts; `total` is the number of units (images, rows), nil if unknown.
    func begin(_ label: String, total: Int?)
    /// `done` units are complete.
    func update(_ done: Int)
    func end()
}

/// Reports nothing.
public final class SilentProgress: ProgressSink {
    public init() {}
    public func begin(_ label: String, total: Int?) {}
    public func update(_ done: Int) {}
    public func end() {}
}
