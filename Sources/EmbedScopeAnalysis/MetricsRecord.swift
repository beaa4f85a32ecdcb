import Foundation
import EmbedScopeCore

/// `INDEX/gen-N/metrics.json`: what has been measured on an index, per space, with when.
/// Written by `metrics`, `versus`, `probe` and `project` (read-modify-write under the index's
/// writer lock, replaced atomically), and read by `compare` and `report`. It lives in the
/// generation it describes: adding a space or a prototype set carries it into the next
/// generation, a rebuild starts without one, and a result computed from vectors that were
/// replaced meanwhile is not recorded — numbers never outlive the vectors they describe.
public struct MetricsRecord: Codable, Sendable, Equatable {
    public static let fileName = "metrics.json"
    public static let currentVersion = 2

    public var version = MetricsRecord.currentVersion
    /// The index directory's name.
    public var index: String
    public var model: String?
    public var weights: String?
    public var samples: Int
    /// The number of classes (`classes` in version 1).
    public var classCount: Int
    public var updatedAt: String
    public var spaces: [String: Space] = [:]
    /// `crc32:` + 8 hex digits: CRC-32 of the file as written with this field `null`
    /// (`MetricsRecord.seal`); nil in files written before it existed.
    public var checksum: String? = nil

    public struct Space: Codable, Sendable, Equatable {
        public var dim: Int
        /// Exact cluster metrics (every pair of rows). Sampled results never go here.
        public var cluster: Cluster?
        /// Cluster metrics whose silhouette was estimated from a seeded sample (`metrics --sample`),
        /// kept apart so an estimate is never shown as, or overwrites, the exact figure.
        public var clusterSampled: Cluster?
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
        /// Mean silhouette per class, in class order (silhouette null for a class of one image;
        /// version 1 kept a map from class name to silhouette).
        public var perClass: [ClassSilhouette]
        public var computedAt: String
    }

    public struct Neighbours: Codable, Sendable, Equatable {
        public var k: Int
        public var precisionAtK: Double
        public var knnAccuracy: Double
        public var computedAt: String
        /// precision@k per class, in class order (null in files written before it was recorded;
        /// version 1 kept a map from class name to precision@k).
        public var perClass: [ClassPrecision]? = nil
    }

    public struct Probe: Codable, Sendable, Equatable {
        public var validationAccuracy: Double
        public var trainRows: Int
        public var validationRows: Int
        public var c: Double
        public var seed: UInt64
        /// Where the training and validation rows came from (nil in files written before splits were
        /// recorded; `split` in version 1).
        public var splitPlan: ProbeSplitRecord? = nil
        public var computedAt: String
    }

    public struct Projected: Codable, Sendable, Equatable {
        public var components: Int
        public var explainedVarianceRatio: [Double]
        public var shrinkage: Double?
        /// LDA run on a PCA-reduced space (nil: on the space itself).
        public var reducedBy: Projection.Reduction? = nil
        public var computedAt: String
    }

    /// The file's bytes: the record encoded (sorted keys) with `checksum` null, then that null
    /// replaced by the CRC-32 of those bytes. A figure changed in place (the file stays valid
    /// JSON) no longer matches (`checkSeal`): `readMetrics` throws, so `verify` fails it and
    /// `compare` / `report` measure again.
    package static func seal(_ record: MetricsRecord) throws -> Data {
        var r = record
        r.checksum = nil
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let open = try enc.encode(r)
        guard let at = open.range(of: unsealed) else { return open }
        let crc = "crc32:" + String(format: "%08x", Checksum.crc32(open))
        var out = open
        out.replaceSubrange(at, with: Data("\"checksum\" : \"\(crc)\"".utf8))
        return out
    }

    private static let unsealed = Data("\"checksum\" : null".utf8)

    /// The file's bytes against the checksum they record (none recorded: a file from before it).
    package static func checkSeal(_ data: Data, recorded: String?, path: String) throws {
        guard let recorded else { return }
        let field = Data("\"checksum\" : \"\(recorded)\"".utf8)
        let valid = recorded.count == 14 && recorded.hasPrefix("crc32:") && recorded.dropFirst(6).allSatisfy(\.isHexDigit)
        var open = data
        if valid, let at = data.range(of: field) { open.replaceSubrange(at, with: unsealed) }
        let computed = "crc32:" + String(format: "%08x", Checksum.crc32(open))
        guard valid, computed == recorded else {
            throw EmbedScopeError(.checksumMismatch, "metrics.json does not match its checksum (recorded \(recorded), computed \(computed)): a figure in it changed after it was written",
                                  path: path, hint: "run `embedscope metrics` (or the command that measured it) to measure again; it rewrites the file")
        }
    }

    /// ISO-8601 UTC, seconds.
    package static func timestamp(_ date: Date = Date()) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }
}

extension Index {
    /// metrics.json of the generation this value reads.
    public var metricsURL: URL { directory.appendingPathComponent(MetricsRecord.fileName) }

    /// The index's metrics.json, or nil if nothing has been measured yet. A damaged file is an
    /// error naming the file (it is derived data: any measuring command rewrites it).
    public func readMetrics() throws -> MetricsRecord? {
        let metricsURL = self.metricsURL
        guard FileManager.default.fileExists(atPath: metricsURL.path) else { return nil }
        let data: Data
        do { data = try Data(contentsOf: metricsURL) } catch {
            throw EmbedScopeError(.io, "cannot read metrics.json", path: metricsURL.path, underlying: error)
        }
        do {
            var record = try JSONDecoder().decode(MetricsRecord.self, from: data)
            try MetricsRecord.checkSeal(data, recorded: record.checksum, path: metricsURL.path)
            // Files written before sampled results were kept apart: move an estimate out of `cluster`.
            for (name, var s) in record.spaces where s.cluster?.exact == false {
                if s.clusterSampled == nil { s.clusterSampled = s.cluster }
                s.cluster = nil
                record.spaces[name] = s
            }
            guard (1...MetricsRecord.currentVersion).contains(record.version) else {
                throw EmbedScopeError(.unsupportedVersion, "metrics.json version \(record.version); this build reads 1 to \(MetricsRecord.currentVersion)",
                                      path: metricsURL.path, hint: "run `embedscope metrics` to rewrite it")
            }
            if record.version < MetricsRecord.currentVersion {
                // Version 1 (maps keyed by class name): read in the version-2 shape, ids from the catalog.
                record = record.withClassIds(try classNames())
                record.version = MetricsRecord.currentVersion
            }
            return record
        } catch let e as EmbedScopeError {
            throw e
        } catch {
            throw EmbedScopeError(.catalog, "metrics.json is damaged", path: metricsURL.path,
                                  hint: "run `embedscope metrics` to rewrite it", underlying: error)
        }
    }

    /// Under the index's writer lock: reads the current generation's metrics.json (a missing or
    /// damaged one starts afresh), applies `change`, and writes it back atomically (temporary
    /// file + fsync + rename). `spaces` are the spaces the change describes: if the current
    /// generation's vectors of one of them are not the ones this value read (the index was
    /// rebuilt meanwhile), nothing is written and the error says so. Returns whether a damaged
    /// file was replaced.
    @discardableResult
    package func updateMetrics(spaces: [String], _ change: (inout MetricsRecord) throws -> Void) throws -> Bool {
        let lock = try IndexWriterLock.acquire(url, create: false)
        defer { lock.release() }
        let latest = try Index.open(url)
        for s in spaces where !(try latest.hasSameVectorsAndLabels(as: self, space: s)) {
            throw EmbedScopeError(.refused, "space '\(s)' was replaced while it was being measured; results not recorded",
                                  path: url.path, hint: "run the command again on the new index")
        }
        let metricsURL = latest.metricsURL
        var damaged = false
        var record: MetricsRecord
        // The header describes the generation written into — `latest`, not the one this value read:
        // a measure that waited for the lock while `build --force --model …` replaced the index
        // (its pixel space unchanged, so the figures stand) recorded the old generation's model
        // (none), and every later update kept it.
        let fresh = try latest.freshMetrics()
        do {
            record = try latest.readMetrics() ?? fresh
        } catch {
            damaged = true
            record = fresh
        }
        record.index = fresh.index
        record.model = fresh.model
        record.weights = fresh.weights
        record.samples = fresh.samples
        record.classCount = fresh.classCount
        try change(&record)
        // Figures computed from a vector file cut short under them are not recorded (`MappingDamage`).
        try MappingDamage.requireLiveNone()
        record.updatedAt = MetricsRecord.timestamp()
        let data = try MetricsRecord.seal(record)
        let tmp = latest.directory.appendingPathComponent(".metrics.json.\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try data.write(to: tmp)
            try IndexDirectory.fsyncPath(tmp.path)
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

    package func freshMetrics() throws -> MetricsRecord {
        let meta = try catalog.meta()
        let ids = try catalog.classIds()
        return MetricsRecord(index: url.lastPathComponent, model: meta["model"], weights: meta["weights"],
                             samples: ids.count, classCount: Set(ids).count, updatedAt: MetricsRecord.timestamp())
    }

    // MARK: - Recording each kind of result

    package func recordCluster(_ s: ClusterScores, space: String) throws -> Bool {
        let names = try classNames()
        return try updateMetrics(spaces: [space]) { r in
            var e = try metricsSpace(r, space)
            let per = s.silhouette.perClass.map {
                MetricsRecord.ClassSilhouette(id: $0.classId, name: names[$0.classId] ?? "class \($0.classId)", silhouette: $0.mean)
            }
            let entry = MetricsRecord.Cluster(silhouette: s.silhouette.mean, exact: s.silhouette.isExact, sample: s.silhouette.sample,
                                              standardError: s.silhouette.standardError, daviesBouldin: s.daviesBouldin,
                                              calinskiHarabasz: s.calinskiHarabasz, perClass: per, computedAt: MetricsRecord.timestamp())
            if s.silhouette.isExact { e.cluster = entry } else { e.clusterSampled = entry }
            r.spaces[space] = e
        }
    }

    package func recordVersus(_ v: VersusReport) throws -> Bool {
        try updateMetrics(spaces: v.spaces.map(\.space)) { r in
            for s in v.spaces {
                var e = try metricsSpace(r, s.space)
                e.neighbours = .init(k: s.k, precisionAtK: s.precisionAtK, knnAccuracy: s.knnAccuracy, computedAt: MetricsRecord.timestamp(),
                                     perClass: s.perClass.map { MetricsRecord.ClassPrecision(id: $0.id, name: $0.name, precisionAtK: $0.precisionAtK) })
                r.spaces[s.space] = e
            }
        }
    }

    package func recordProbe(_ p: ProbeReport) throws -> Bool {
        try updateMetrics(spaces: [p.space]) { r in
            var e = try metricsSpace(r, p.space)
            e.probe = .init(validationAccuracy: p.validation.accuracy, trainRows: p.trainRows, validationRows: p.validationRows,
                            c: p.c, seed: p.seed, splitPlan: p.splitPlan, computedAt: MetricsRecord.timestamp())
            r.spaces[p.space] = e
        }
    }

    package func recordProjection(_ p: ProjectionReport) throws -> Bool {
        try updateMetrics(spaces: [p.space]) { r in
            let space = p.space
            var e = try metricsSpace(r, space)
            let entry = MetricsRecord.Projected(components: p.components, explainedVarianceRatio: p.explainedVarianceRatio,
                                                shrinkage: p.shrinkage, reducedBy: p.reducedBy, computedAt: MetricsRecord.timestamp())
            switch p.method {
            case .pca: e.pca = entry
            case .lda: e.lda = entry
            }
            r.spaces[space] = e
        }
    }
}
