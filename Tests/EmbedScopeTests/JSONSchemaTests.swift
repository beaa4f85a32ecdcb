import Foundation
import XCTest
@testable import EmbedScope
@testable import EmbedScopeCore
@testable import EmbedScopeImages

/// One JSON schema (issue 12 item 8): every command's `--json` output and metrics.json are
/// validated against `docs/json-schema.json` (the machine-readable half of docs/json.md). The
/// schema lists every field as required and allows no others, so a field left out instead of
/// `null`, a field renamed, or a count that became a list fails here.
final class JSONSchemaTests: XCTestCase {
    static var schemaURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/json-schema.json")
    }

    /// A subset of JSON Schema 2020-12: `type` (one or a list), `properties`, `required`,
    /// `additionalProperties` (false or a schema), `items`, `enum`, `$ref` to `#/$defs/…`.
    struct Validator {
        let defs: [String: Any]

        func validate(_ value: Any, _ schema: [String: Any], at path: String, into errors: inout [String]) {
            if let ref = schema["$ref"] as? String {
                let name = String(ref.dropFirst("#/$defs/".count))
                guard let s = defs[name] as? [String: Any] else { errors.append("\(path): unknown $ref \(ref)"); return }
                validate(value, s, at: path, into: &errors)
                return
            }
            if let types = (schema["type"] as? [String]) ?? (schema["type"] as? String).map({ [$0] }) {
                guard types.contains(where: { Self.matches(value, $0) }) else {
                    errors.append("\(path): expected \(types.joined(separator: " or ")), got \(Self.kind(value))")
                    return
                }
            }
            if let allowed = schema["enum"] as? [Any], !allowed.contains(where: { "\($0)" == "\(value)" }) {
                errors.append("\(path): \(value) is not one of \(allowed)")
            }
            if let object = value as? [String: Any] {
                let properties = schema["properties"] as? [String: Any] ?? [:]
                for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                    errors.append("\(path): missing field '\(key)' (a missing value is null, never left out)")
                }
                for (key, v) in object {
                    if let s = properties[key] as? [String: Any] {
                        validate(v, s, at: "\(path).\(key)", into: &errors)
                    } else if let s = schema["additionalProperties"] as? [String: Any] {
                        validate(v, s, at: "\(path).\(key)", into: &errors)
                    } else if schema["additionalProperties"] as? Bool == false {
                        errors.append("\(path): field '\(key)' is not in the schema")
                    }
                }
            }
            if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
                for (i, v) in array.enumerated() { validate(v, items, at: "\(path)[\(i)]", into: &errors) }
            }
        }

        static func matches(_ v: Any, _ type: String) -> Bool {
            switch type {
            case "null": return v is NSNull
            case "object": return v is [String: Any]
            case "array": return v is [Any]
            case "string": return v is String
            case "boolean": return isBoolean(v)
            case "number": return isNumber(v)
            case "integer": return isNumber(v) && (v as? NSNumber).map { $0.doubleValue.rounded() == $0.doubleValue } == true
            default: return false
            }
        }

        /// JSONSerialization gives true/false as a boolean NSNumber (objCType "c"), numbers as
        /// other NSNumbers; `is Bool` alone would also accept 0 and 1.
        static func isBoolean(_ v: Any) -> Bool {
            guard let n = v as? NSNumber else { return false }
            return String(cString: n.objCType) == "c" && "\(type(of: v))".contains("Boolean")
        }

        static func isNumber(_ v: Any) -> Bool {
            guard let n = v as? NSNumber else { return false }
            return !isBoolean(v) && n.doubleValue.isFinite
        }

        static func kind(_ v: Any) -> String {
            for t in ["null", "boolean", "integer", "number", "string", "array", "object"] where matches(v, t) { return t }
            return "\(type(of: v))"
        }
    }

    static func loadSchema() throws -> Validator {
        let data = try Data(contentsOf: schemaURL)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        return Validator(defs: try XCTUnwrap(doc["$defs"] as? [String: Any]))
    }

    func check(_ output: String, against name: String, _ v: Validator, topLevel: Bool = true, file: StaticString = #filePath, line: UInt = #line) {
        guard let value = try? JSONSerialization.jsonObject(with: Data(output.utf8), options: [.fragmentsAllowed]) else {
            XCTFail("\(name): output is not JSON: \(output.prefix(300))", file: file, line: line)
            return
        }
        guard let schema = v.defs[name] as? [String: Any] else { XCTFail("no schema for \(name)", file: file, line: line); return }
        var errors: [String] = []
        v.validate(value, schema, at: name, into: &errors)
        if topLevel {
            XCTAssertEqual((value as? [String: Any])?["schemaVersion"] as? Int, 2, "\(name): schemaVersion", file: file, line: line)
        }
        XCTAssertEqual(errors, [], "\(name) does not match docs/json-schema.json", file: file, line: line)
    }

    /// The validator itself refuses what it must (so a pass above means something).
    func testValidatorRefusesWrongShapes() throws {
        let v = try Self.loadSchema()
        var errors: [String] = []
        let row: [String: Any] = ["rank": 1, "row": 2, "path": "a.png", "class": "x", "score": 0.5]
        v.validate(["results": [row], "schemaVersion": 2], v.defs["query"] as! [String: Any], at: "q", into: &errors)
        XCTAssertEqual(errors, [])
        var missing = row; missing["class"] = nil
        v.validate(["results": [missing], "schemaVersion": 2], v.defs["query"] as! [String: Any], at: "q", into: &errors)
        var extra = row; extra["note"] = "x"
        v.validate(["results": [extra], "schemaVersion": 2], v.defs["query"] as! [String: Any], at: "q", into: &errors)
        var listForCount = row; listForCount["row"] = [2]
        v.validate(["results": [listForCount], "schemaVersion": 2], v.defs["query"] as! [String: Any], at: "q", into: &errors)
        var nullScore = row; nullScore["score"] = NSNull()
        v.validate(["results": [nullScore], "schemaVersion": 2], v.defs["query"] as! [String: Any], at: "q", into: &errors)
        XCTAssertEqual(errors.count, 4, "\(errors)")
    }

    func testEveryCommandsJSONMatchesTheSchema() throws {
        let v = try Self.loadSchema()
        let dir = try temporaryDirectory(self)
        // A split data set of tiny PNGs, with one exact duplicate that crosses splits and labels.
        var g = SplitMix64(seed: 8)
        let colours: [[Double]] = [[200, 30, 30], [30, 200, 30], [30, 30, 200]]
        var firstImage: URL?
        for split in ["train", "val"] {
            for (c, name) in ["a", "b", "c"].enumerated() {
                let folder = dir.appendingPathComponent("data/\(split)/\(name)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for i in 0..<(split == "train" ? 10 : 4) {
                    let px = (0..<(16 * 16 * 3)).map { j in UInt8(max(0, min(255, colours[c][j % 3] + 40 * g.gaussian()))) }
                    let url = folder.appendingPathComponent("\(i).png")
                    try PNGWriter.write(width: 16, height: 16, channels: 3, pixels: px, to: url)
                    if firstImage == nil { firstImage = url }
                }
            }
        }
        try FileManager.default.copyItem(at: try XCTUnwrap(firstImage), to: dir.appendingPathComponent("data/val/b/copy.png"))
        let px = dir.appendingPathComponent("px").path
        func json(_ args: [String], _ name: String, topLevel: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
            let r = try CLI.run(args + ["--json"])
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)", file: file, line: line)
            check(r.stdout, against: name, v, topLevel: topLevel, file: file, line: line)
        }
        try json(["build", dir.appendingPathComponent("data").path, "--model", "none", "--out", px], "build")
        let n = 60, d = 12
        let names = (0..<n).map { ["a", "b", "c"][$0 % 3] }
        let imp = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: n, dim: d, seed: 5), rows: n, dim: d, classes: names,
                                        head: (randomMatrix(rows: 3, dim: d, seed: 6), [0, 1, 2], ["a", "b", "c"])).path
        let imp2 = dir.appendingPathComponent("imp2").path
        try json(["import", "--vectors", dir.appendingPathComponent("X-index.npy").path, "--manifest", dir.appendingPathComponent("rows-index.csv").path,
                  "--out", imp2, "--head", dir.appendingPathComponent("W-index.npy").path, "--bias", dir.appendingPathComponent("b-index.npy").path,
                  "--head-classes", dir.appendingPathComponent("names-index.txt").path], "import")
        try json(["import", "--vectors", dir.appendingPathComponent("X-index.npy").path, "--manifest", dir.appendingPathComponent("rows-index.csv").path,
                  "--out", imp2, "--space", "second"], "import")
        let q = dir.appendingPathComponent("Q.npy")
        try NPYArray.write(shape: [2, d], values: randomMatrix(rows: 2, dim: d, seed: 7), to: q)

        try json(["query", px, "--row", "1", "-k", "3"], "query")
        try json(["rank", imp, "--prototype", "a", "-k", "3"], "query")
        try json(["query", imp, "--vectors", q.path, "-k", "2"], "queryBatch")
        try json(["info", px], "info")
        try json(["info", imp], "info")
        try json(["info", "--system"], "infoSystem")
        try json(["verify", px], "verify")
        try json(["metrics", px], "metrics")
        try json(["metrics", px, "--sample", "20", "--seed", "1"], "metrics")
        try json(["metrics", px, "--split", "val"], "metrics")
        try json(["versus", px, "-k", "3"], "versus")
        try json(["versus", px, "-k", "3", "--split", "val"], "versus")
        try json(["probe", px], "probe")
        try json(["evaluate", px, "--set", "probe"], "evaluate")
        try json(["evaluate", imp, "--set", "head"], "evaluate")
        try json(["duplicates", px], "duplicates")
        try json(["mislabels", px], "mislabels")
        // A class of one row: its candidate has no training rows of its class in the other folds,
        // and `probeMargin` is null (the schema said number).
        let solo = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 31, dim: 4, seed: 9), rows: 31, dim: 4,
                                         classes: (0..<31).map { $0 == 30 ? "solo" : ["a", "b"][$0 % 2] }, name: "solo").path
        let m = try CLI.run(["mislabels", solo, "--json", "-k", "3"])
        XCTAssertEqual(m.status, 0, m.stderr)
        check(m.stdout, against: "mislabels", v, topLevel: true)
        try json(["uniqueness", px], "uniqueness")
        try json(["representativeness", px, "--clusters", "3"], "representativeness")
        try json(["representativeness", px, "--clusters", "3", "--method", "cluster-center-downweight"], "representativeness")
        try json(["project", px, "--method", "pca"], "project")
        try json(["project", px, "--method", "lda"], "project")
        try json(["compare", px, imp], "compare")
        // Values that are missing in these runs print as null (each failed validation on main).
        try json(["probe", px, "--no-store"], "probe")
        try json(["duplicates", imp], "duplicates")                         // no splits: split null
        // ... with pairs to show (the random rows above have none): imageRef.split is null.
        var twins = randomMatrix(rows: 12, dim: 6, seed: 9)
        for j in 0..<6 { twins[6 + j] = twins[j] }
        let tw = try makeImportedIndex(in: dir, vectors: twins, rows: 12, dim: 6, classes: (0..<12).map { ["a", "b"][$0 % 2] }, name: "twins").path
        let dup = try CLI.run(["duplicates", tw, "--json"])
        XCTAssertTrue(dup.stdout.contains("\"split\" : null"), dup.stdout)
        try json(["duplicates", tw], "duplicates")
        let rowsFile = dir.appendingPathComponent("rows.txt")
        try "1\n2\n".write(to: rowsFile, atomically: true, encoding: .utf8)
        try json(["query", imp, "--rows", rowsFile.path, "-k", "2"], "queryBatch") // no vector number
        try json(["metrics", px, "--sample", "2"], "metrics")              // classes with no sampled row
        try json(["versus", imp2, "-k", "3"], "versus")                    // two spaces, no pixel space
        let mid = try makeImportedIndex(in: dir, vectors: randomMatrix(rows: 30, dim: 4, seed: 1), rows: 30, dim: 4,
                                        classes: (0..<30).map { ["a", "b", "c"][$0 % 3] }, name: "mid").path
        XCTAssertEqual(try CLI.run(["project", mid, "--components", "2"]).status, 0)
        try json(["compare", mid, "--no-compute"], "compare")               // metrics.json without cluster metrics
        let metricsFile = try String(contentsOf: Index.open(URL(fileURLWithPath: px)).metricsURL, encoding: .utf8)
        check(metricsFile, against: "metricsFile", v, topLevel: false)

        // The commands that change an index: export, remove, add, shards and merge.
        let data = dir.appendingPathComponent("data").path
        try json(["export", px, "--space", "pixel", "--out", dir.appendingPathComponent("exported").path], "export")
        try json(["remove", px, "--class", "c"], "growth")
        try json(["add", px, data], "growth")
        let s1 = dir.appendingPathComponent("s1").path, s2 = dir.appendingPathComponent("s2").path
        XCTAssertEqual(try CLI.run(["build", data, "--model", "none", "--shard", "1/2", "--out", s1]).status, 0)
        XCTAssertEqual(try CLI.run(["build", data, "--model", "none", "--shard", "2/2", "--out", s2]).status, 0)
        try json(["merge", s1, s2, "--out", dir.appendingPathComponent("merged").path], "merge")
    }
}
