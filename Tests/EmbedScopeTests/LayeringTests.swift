import Foundation
import XCTest

/// The layers of docs/architecture.md, checked from the sources: a target may import only the
/// project modules below it (SwiftPM already refuses an import of a module that is not a declared
/// dependency; this also catches a dependency added to Package.swift that points upwards), and
/// GRDB is imported by the core alone, so no GRDB type can appear in another layer's API.
final class LayeringTests: XCTestCase {
    /// Project modules each target may import. Lower layers first.
    static let allowed: [String: Set<String>] = [
        "EmbedScopeCore": ["CBLAS", "CKernels", "CZlib", "GRDB"],
        "EmbedScopeImages": ["EmbedScopeCore", "CPNG", "CJPEG", "CJPEGShim", "CZlib"],
        "EmbedScopeModels": ["EmbedScopeCore", "EmbedScopeImages", "CBLAS"],
        "EmbedScopeAnalysis": ["EmbedScopeCore", "CBLAS"],
        "EmbedScopeReport": ["EmbedScopeCore", "EmbedScopeImages", "EmbedScopeAnalysis"],
        "EmbedScope": ["EmbedScopeCore", "EmbedScopeImages", "EmbedScopeModels", "EmbedScopeAnalysis", "EmbedScopeReport", "CZlib"],
        "EmbedScopeServer": ["EmbedScope", "Hummingbird"],
        "EmbedScopeCommandLine": ["EmbedScope", "ArgumentParser"],
        "EmbedScopeCLI": ["EmbedScope", "EmbedScopeServer", "EmbedScopeCommandLine", "ArgumentParser"],
        "EmbedScopeBench": ["EmbedScope", "EmbedScopeCommandLine", "ArgumentParser"],
        "EmbedScopeFuzz": ["EmbedScope"],
    ]
    /// Modules that are ours or a dependency's (anything else, like Foundation, is the platform's).
    static let projectModules: Set<String> = Set(allowed.keys).union(["CBLAS", "CKernels", "CZlib", "CPNG", "CJPEG", "CJPEGShim", "GRDB", "ArgumentParser", "EmbedScopeServer", "Hummingbird"])

    static var sourcesRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources")
    }

    /// `(module, file, line)` for every `import M` of a project module in a target's Swift files.
    static func imports(of target: String) throws -> [(module: String, file: String, line: Int)] {
        let dir = sourcesRoot.appendingPathComponent(target)
        guard let walker = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil) else { return [] }
        var out: [(String, String, Int)] = []
        for case let url as URL in walker where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                var words = line.split(separator: " ").map(String.init)
                while let w = words.first, w.hasPrefix("@") || ["public", "package", "internal"].contains(w) { words.removeFirst() }
                guard words.count >= 2, words[0] == "import" else { continue }
                let module = words[1].split(separator: ".").first.map(String.init) ?? words[1]
                if projectModules.contains(module) { out.append((module, url.lastPathComponent, i + 1)) }
            }
        }
        return out
    }

    func testEveryTargetImportsOnlyLowerLayers() throws {
        var checked = 0
        for (target, allowed) in Self.allowed {
            let found = try Self.imports(of: target)
            XCTAssertFalse(found.isEmpty && target != "EmbedScopeCore", "\(target): no imports found — is Sources/\(target) there?")
            for imp in found where !allowed.contains(imp.module) {
                XCTFail("\(target)/\(imp.file):\(imp.line) imports \(imp.module), which is not below it (allowed: \(allowed.sorted()))")
            }
            checked += found.count
        }
        XCTAssertGreaterThan(checked, 50, "the scan found too few imports to mean anything")
    }

    func testEveryTargetIsListed() throws {
        let dirs = try FileManager.default.contentsOfDirectory(atPath: Self.sourcesRoot.path)
            .filter { $0.hasPrefix("EmbedScope") }
        for d in dirs where Self.allowed[d] == nil && d != "EmbedScopeServer" && d != "EmbedScopeBench" {
            XCTFail("Sources/\(d) is a target this test does not know: add its allowed imports")
        }
    }
}
