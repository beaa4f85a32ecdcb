import Foundation
import XCTest

/// The public API contract of docs/architecture.md ("The public API"), checked from the sources.
final class PublicAPITests: XCTestCase {
    /// Every file that imports GRDB imports it `internal` (or narrower): the compiler then refuses
    /// a GRDB type in any public or package signature, so none can leak to users.
    func testGRDBIsImportedInternallyOnly() throws {
        let root = LayeringTests.sourcesRoot
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else {
            return XCTFail("no Sources folder at \(root.path)")
        }
        var found = 0
        for case let url as URL in walker where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let words = line.split(separator: " ").map(String.init)
                guard let at = words.firstIndex(of: "import"), at + 1 < words.count, words[at + 1] == "GRDB" else { continue }
                found += 1
                let modifiers = Set(words[..<at])
                XCTAssertFalse(modifiers.isDisjoint(with: ["internal", "private", "fileprivate"]),
                               "\(url.lastPathComponent):\(i + 1): `import GRDB` must be `internal import GRDB`")
            }
        }
        XCTAssertGreaterThan(found, 0, "no GRDB import found: the scan looked in the wrong place")
    }

    /// The command-line targets declare nothing public: what they share is `package`.
    func testCommandLineTargetsDeclareNothingPublic() throws {
        for target in ["EmbedScopeCommandLine", "EmbedScopeCLI", "EmbedScopeBench", "EmbedScopeFuzz"] {
            let dir = LayeringTests.sourcesRoot.appendingPathComponent(target)
            guard let walker = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil) else {
                XCTFail("no Sources/\(target)"); continue
            }
            for case let url as URL in walker where url.pathExtension == "swift" {
                let text = try String(contentsOf: url, encoding: .utf8)
                for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                where line.trimmingCharacters(in: .whitespaces).hasPrefix("public ") {
                    XCTFail("\(target)/\(url.lastPathComponent):\(i + 1): declare it `package`, not `public` (only our targets use it)")
                }
            }
        }
    }
}
