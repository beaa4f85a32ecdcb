import Foundation

/// What `embedscope serve` was asked to do: where the indexes are, where to listen, and the
/// bounds that keep a server that is exposed safe.
package struct ServerOptions: Sendable {
    /// Index directories, or folders whose sub-folders are indexes (an index's API name is its folder's name).
    package var roots: [URL]
    package var host = "127.0.0.1"
    /// 0 picks a free port (tests).
    package var port = 8080
    /// Record analyses computed on demand in the index's metrics.json (otherwise they are kept in memory only).
    package var writable = false
    /// Largest upload accepted by POST …/query (bytes).
    package var maxUploadBytes = 16 << 20
    /// Largest decoded image accepted by POST …/query (width × height), checked from the header before decoding.
    package var maxUploadPixels = 40_000_000
    /// Largest k a query may ask for.
    package var maxK = 10_000
    /// How long the first query of a batch waits for others on the same space (seconds).
    package var batchWindow: Double = 0.0015
    /// Idle connections are closed after this (seconds): a request header not complete this long
    /// after the connection opened or its last answer, a stalled body, a kept-alive connection
    /// with no next request. Not a connection whose answer is being computed.
    package var idleTimeout: Double = 30
    /// Thumbnails kept in memory per index.
    package var thumbnailCacheEntries = 4096
    /// Where request log lines go (nil: none).
    package var log: (@Sendable (String) -> Void)? = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    package init(roots: [URL]) { self.roots = roots }
}
