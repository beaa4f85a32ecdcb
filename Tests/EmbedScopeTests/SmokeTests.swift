import XCTest
@testable import EmbedScope
final class SmokeTests: XCTestCase { func testVersion() { XCTAssertFalse(EmbedScopeVersion.string.isEmpty) } }
