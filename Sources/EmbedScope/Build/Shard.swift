import Foundation
import EmbedScopeCore

/// `build --shard i/n`: one of n disjoint parts of a data set, so n machines can each build one
/// and `merge` joins them into the index an unsharded build makes.
///
/// An image belongs to shard `CRC-32(UTF-8 of its relative path) mod n + 1` (shards are
/// numbered 1…n; CRC-32 as zlib computes it). The assignment depends on the path only: the same
/// on every machine, independent of which other files exist, so adding images later never moves
/// an image to another shard. `--limit` (seeded, over the whole data set) is applied first.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 1…count.
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, count <= 65_536, (1...count).contains(index) else {
            throw EmbedScopeError(.invalidArgument, "shard \(index)/\(count) does not exist: shards are numbered 1…n, n ≤ 65536",
                                  hint: "e.g. --shard 1/4 … --shard 4/4")
        }
        self.index = index; self.count = count
    }

    /// Parses `i/n`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw EmbedScopeError(.invalidArgument, "--shard '\(text)' is not i/n", hint: "e.g. --shard 2/4 (shards are numbered 1…n)")
        }
        try self.init(index: i, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// The shard (1…n) of a relative path.
    public static func of(path: String, count: Int) -> Int {
        Int(Checksum.crc32(Array(path.utf8)) % UInt32(count)) + 1
    }

    public func contains(path: String) -> Bool { Self.of(path: path, count: count) == index }

    func select(_ entries: [DatasetFolder.Entry], root: URL) throws -> [DatasetFolder.Entry] {
        let kept = entries.filter { contains(path: $0.path) }
        guard !kept.isEmpty else {
            throw EmbedScopeError(.dataset, "shard \(description) of this data set has no images (\(entries.count) images over \(count) shards)",
                                  path: root.path, hint: "use fewer shards")
        }
        return kept
    }
}
