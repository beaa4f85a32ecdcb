import Foundation
import EmbedScopeCore

/// `INDEX/metrics.json`: what has been measured on an index, per space, with when. Written
/// (atomically, merged with what is there) by `metrics`, `versus`, `probe` and `project`, and
/// read by `compare` and `report`. A rebuilt index starts without one: the build replaces the
/// whole directory, so numbers never outlive the vectors they describe.
public struct MetricsRecord: Codable, Sendable, Equatable {
    public static let fileName = "metrics.json"
    public static let currentVersion = 1

    public var version = MetricsRecord.currentVersion
    /// The index directory's name.
    public var index: String
    public var model: String?
    public var weights: String?
    public var samples: Int
    public var classes: Int
    public var updatedAt: String
    public var spaces: [String: Space] = [:]

    public struct Space: Codable, Sendable, Equatable {
        public var dim: Int
        public var cluster: Cluster?
        public var neighbours: Neighbours?
        public var probe: Probe?
        public var pca: Projected?
        public var lda: Projected?

        public init(dim: Int) { self.dim = dim }
    }

    public struct Cluster: Codable, Sendable, Equatable {
        public var silhouette: Double
        /// false when estimated from `sample` rows; then `standardError` is the estimate's.
        public var exact: Bool
        public var sample: Int?
        public var standardError: Double?
        public var daviesBouldin: Double
        public var calinskiHarabasz: Double
        /// Mean silhouette per class name (nil for a class of one image).
        public var perClass: [String: Double?]
        public var computedAt: String
    }

    public struct Neighbours: Codable, Sendable, Equatable {
        public var k: Int
        public var precisionAtK: Double
        public var knnAccuracy: Double
        public var computedAt: String
    }

    public struct Probe: Codable, Sendable, Equatable {
        public var validationAccuracy: Double
        public var trainRows: Int
        public var validationRows: Int
        public var c: Double
        public var seed: UInt64
        public var computedAt: String
    }

    public struct Projected: Codable, Sendable, Equatable {
        public var components: Int
        public var explainedVarianceRatio: [Double]
        public var shrinkage: Double?
        public var computedAt: String
    }

    /// ISO-8601 UTC, seconds.
    public static func timestamp(_ date: Date = Date()) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }
}

extension Index {
    public var metricsURL: URL { url.appendingPathComponent(MetricsRecord.fileName) }

    /// The index's metrics.json, or nil if nothing has been measured yet. A damaged file is an
    /// error naming the file (it is derived data: any measuring command rewrites it).
    public func readMetrics() throws -> MetricsRecord? {
        guard FileManager.default.fileExists(atPath: metricsURL.path) else { return nil }
        let data: Data
        do { data = try Data(contentsOf: metricsURL) } catch {
            throw EmbedScopeError(.io, "cannot read metrics.json", path: metricsURL.path, underlying: error)
        }
        do {
            let record = try JSONDecoder().decode(MetricsRecord.self, from: data)
            guard record.version == MetricsRecord.currentVersion else {
                throw EmbedScopeError(.unsupportedVersion, "metrics.json version \(record.version); this build reads \(MetricsRecord.currentVersion)",
                                      path: metricsURL.path, hint: "run `embedscope metrics` to rewrite it")
            }
            return record
        } catch let e as EmbedScopeError {
            throw e
        } catch {
            throw EmbedScopeError(.catalog, "metrics.json is damaged", path: metricsURL.path,
                                  hint: "run `embedscope metrics` to rewrite it", underlying: error)
        }
    }

    /// Reads metrics.json (a missing or damaged one starts afresh), applies `change`, and writes it
    /// back atomically (temporary file + rename). Returns whether a damaged file was replaced.
    @discardableResult
    public func updateMetrics(_ change: (inout MetricsRecord) throws -> Void) throws -> Bool {
        var damaged = false
        var record: MetricsRecord
        do {
            record = try readMetrics() ?? freshMetrics()
        } catch {
            damaged = true
            record = try freshMetrics()
        }
        try change(&record)
        record.updatedAt = MetricsRecord.timestamp()
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try enc.encode(record)
        let tmp = url.appendingPathComponent(".metrics.json.\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try data.write(to: tmp)
            guard rename(tmp.path, metricsURL.path) == 0 else {
                throw EmbedScopeError(.io, "cannot replace metrics.json (errno \(errno))", path: metricsURL.path)
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            if let e = error as? EmbedScopeError { throw e }
            throw EmbedScopeError(.io, "cannot write metrics.json", path: metricsURL.path, underlying: error)
        }
        return damaged
    }

    /// The space's entry, created with its dimension if missing.
    func metricsSpace(_ record: MetricsRecord, _ space: String) throws -> MetricsRecord.Space {
        try record.spaces[space] ?? MetricsRecord.Space(dim: vectors(space: space).dim)
    }

    func freshMetrics() throws -> MetricsRecord {
        let meta = try catalog.meta()
        let ids = try catalog.classIds()
        return MetricsRecord(index: url.lastPathComponent, model: meta["model"], weights: meta["weights"],
                             samples: ids.count, classes: Set(ids).count, updatedAt: MetricsRecord.timestamp())
    }

    // MARK: - Recording each kind of result

    public func recordCluster(_ s: ClusterScores, space: String) throws -> Bool {
        let names = try classNames()
        return try updateMetrics { r in
            var e = try metricsSpace(r, space)
            var per: [String: Double?] = [:]
            for c in s.silhouette.perClass { per[names[c.classId] ?? String(c.classId)] = .some(c.mean) }
            e.cluster = .init(silhouette: s.silhouette.mean, exact: s.silhouette.isExact, sample: s.silhouette.sample,
                              standardError: s.silhouette.standardError, daviesBouldin: s.daviesBouldin,
                              calinskiHarabasz: s.calinskiHarabasz, perClass: per, computedAt: MetricsRecord.timestamp())
            r.spaces[space] = e
        }
    }

    public func recordVersus(_ v: VersusReport) throws -> Bool {
        try updateMetrics { r in
            for s in v.spaces {
                var e = try metricsSpace(r, s.space)
                e.neighbours = .init(k: s.k, precisionAtK: s.precisionAtK, knnAccuracy: s.knnAccuracy, computedAt: MetricsRecord.timestamp())
                r.spaces[s.space] = e
            }
        }
    }

    public func recordProbe(_ p: ProbeReport) throws -> Bool {
        try updateMetrics { r in
            var e = try metricsSpace(r, p.space)
            e.probe = .init(validationAccuracy: p.validation.accuracy, trainRows: p.trainRows, validationRows: p.validationRows,
                            c: p.c, seed: p.seed, computedAt: MetricsRecord.timestamp())
            r.spaces[p.space] = e
        }
    }

    public func recordProjection(_ p: ProjectionReport) throws -> Bool {
        try updateMetrics { r in
            let space = p.space
            var e = try metricsSpace(r, space)
            let entry = MetricsRecord.Projected(components: p.components, explainedVarianceRatio: p.explainedVarianceRatio,
                                                shrinkage: p.shrinkage, computedAt: MetricsRecord.timestamp())
            switch p.method {
            case .pca: e.pca = entry
            case .lda: e.lda = entry
            }
            r.spaces[space] = e
        }
    }
}
