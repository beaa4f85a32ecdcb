import Foundation
import XCTest

/// The getting-started article's code listing is the example package's program, which the test
/// command compiles against the public API and runs: this keeps the two the same text.
final class DocumentationTests: XCTestCase {
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func testGettingStartedListingIsTheExamplePackage() throws {
        let main = try String(contentsOf: Self.root.appendingPathComponent("Tests/ExamplePackage/Sources/Example/main.swift"), encoding: .utf8)
        let article = try String(contentsOf: Self.root.appendingPathComponent("Sources/EmbedScope/EmbedScope.docc/GettingStarted.md"), encoding: .utf8)
        guard let a = main.range(of: "    // snippet: getting-started\n"), let b = main.range(of: "    // end-snippet") else {
            return XCTFail("main.swift lost its snippet markers")
        }
        let snippet = main[a.upperBound..<b.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("    ") ? String($0.dropFirst(4)) : String($0) }
            .joined(separator: "\n").trimmingCharacters(in: .newlines)
        XCTAssertGreaterThan(snippet.count, 200)
        XCTAssertTrue(article.contains("```swift\n" + snippet + "\n```"), "GettingStarted.md's listing differs from the example package's main.swift")
    }
}
