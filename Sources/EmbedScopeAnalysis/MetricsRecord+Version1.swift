import Foundation
import EmbedScopeCore

// metrics.json version 2 (docs/json.md, "changes from version 1"): per-class figures are lists
// of `{id, name, …}` objects in class order, the class count is `classCount` and a probe's split
// plan is `splitPlan`. Files written by version 1 (maps keyed by class name, `classes`, `split`)
// are still read: the decoders below accept both shapes, `Index.readMetrics` fills in the class
// ids a version-1 map did not have, and the next write stores the file as version 2.

extension MetricsRecord {
    /// One class's mean silhouette (null for a class of one image).
    public struct ClassSilhouette: Codable, Sendable, Equatable {
        /// The class id (null only when read from a version-1 file naming a class the catalog no longer has).
        public var id: Int?
        public var name: String
        public var silhouette: Double?
        public init(id: Int?, name: String, silhouette: Double?) { self.id = id; self.name = name; self.silhouette = silhouette }
    }

    /// One class's precision@k.
    public struct ClassPrecision: Codable, Sendable, Equatable {
        public var id: Int?
        public var name: String
        public var precisionAtK: Double
        public init(id: Int?, name: String, precisionAtK: Double) { self.id = id; self.name = name; self.precisionAtK = precisionAtK }
    }

    enum Keys: String, CodingKey {
        case version, index, model, weights, samples, classCount, classes, updatedAt, spaces, checksum
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        version = try c.decode(Int.self, forKey: .version)
        index = try c.decode(String.self, forKey: .index)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        weights = try c.decodeIfPresent(String.self, forKey: .weights)
        samples = try c.decode(Int.self, forKey: .samples)
        classCount = try c.decodeIfPresent(Int.self, forKey: .classCount) ?? c.decode(Int.self, forKey: .classes)
        updatedAt = try c.decode(String.self, forKey: .updatedAt)
        spaces = try c.decodeIfPresent([String: Space].self, forKey: .spaces) ?? [:]
        checksum = try c.decodeIfPresent(String.self, forKey: .checksum)
    }

    /// Class ids filled in from `names` (id → name) where a version-1 file had only names.
    func withClassIds(_ names: [Int: String]) -> MetricsRecord {
        var byName: [String: Int] = [:]
        for (id, n) in names where byName[n].map({ id < $0 }) ?? true { byName[n] = id }
        func ordered<T>(_ list: [T], name: (T) -> String, setId: (inout T, Int?) -> Void, id: (T) -> Int?) -> [T] {
            var out = list.map { e -> T in var e = e; if id(e) == nil { setId(&e, byName[name(e)]) }; return e }
            // Class order: by id, then (classes the catalog no longer has) by name.
            out.sort { a, b in
                switch (id(a), id(b)) {
                case let (x?, y?): return x < y
                case (.some, nil): return true
                case (nil, .some): return false
                default: return name(a) < name(b)
                }
            }
            return out
        }
        func sil(_ c: Cluster?) -> Cluster? {
            guard var c else { return nil }
            c.perClass = ordered(c.perClass, name: \.name, setId: { $0.id = $1 }, id: \.id)
            return c
        }
        var r = self
        for (space, var s) in r.spaces {
            s.cluster = sil(s.cluster)
            s.clusterSampled = sil(s.clusterSampled)
            if let list = s.neighbours?.perClass {
                s.neighbours?.perClass = ordered(list, name: \.name, setId: { $0.id = $1 }, id: \.id)
            }
            r.spaces[space] = s
        }
        return r
    }
}

extension MetricsRecord.Cluster {
    enum Keys: String, CodingKey {
        case silhouette, exact, sample, standardError, daviesBouldin, calinskiHarabasz, perClass, computedAt
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        silhouette = try c.decode(Double.self, forKey: .silhouette)
        exact = try c.decode(Bool.self, forKey: .exact)
        sample = try c.decodeIfPresent(Int.self, forKey: .sample)
        standardError = try c.decodeIfPresent(Double.self, forKey: .standardError)
        daviesBouldin = try c.decode(Double.self, forKey: .daviesBouldin)
        calinskiHarabasz = try c.decode(Double.self, forKey: .calinskiHarabasz)
        if let list = try? c.decode([MetricsRecord.ClassSilhouette].self, forKey: .perClass) {
            perClass = list
        } else {
            // Version 1: {class name: silhouette or null}.
            let map = try c.decode([String: Double?].self, forKey: .perClass)
            perClass = map.keys.sorted().map { MetricsRecord.ClassSilhouette(id: nil, name: $0, silhouette: map[$0] ?? nil) }
        }
        computedAt = try c.decode(String.self, forKey: .computedAt)
    }
}

extension MetricsRecord.Neighbours {
    enum Keys: String, CodingKey { case k, precisionAtK, knnAccuracy, computedAt, perClass }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        k = try c.decode(Int.self, forKey: .k)
        precisionAtK = try c.decode(Double.self, forKey: .precisionAtK)
        knnAccuracy = try c.decode(Double.self, forKey: .knnAccuracy)
        computedAt = try c.decode(String.self, forKey: .computedAt)
        if try !c.contains(.perClass) || c.decodeNil(forKey: .perClass) {
            perClass = nil
        } else if let list = try? c.decode([MetricsRecord.ClassPrecision].self, forKey: .perClass) {
            perClass = list
        } else {
            let map = try c.decode([String: Double].self, forKey: .perClass)
            perClass = map.keys.sorted().map { MetricsRecord.ClassPrecision(id: nil, name: $0, precisionAtK: map[$0] ?? 0) }
        }
    }
}

extension MetricsRecord.Probe {
    enum Keys: String, CodingKey { case validationAccuracy, trainRows, validationRows, c, seed, splitPlan, split, computedAt }

    public init(from decoder: Decoder) throws {
        let k = try decoder.container(keyedBy: Keys.self)
        validationAccuracy = try k.decode(Double.self, forKey: .validationAccuracy)
        trainRows = try k.decode(Int.self, forKey: .trainRows)
        validationRows = try k.decode(Int.self, forKey: .validationRows)
        c = try k.decode(Double.self, forKey: .c)
        seed = try k.decode(UInt64.self, forKey: .seed)
        splitPlan = try k.decodeIfPresent(ProbeSplitRecord.self, forKey: .splitPlan) ?? k.decodeIfPresent(ProbeSplitRecord.self, forKey: .split)
        computedAt = try k.decode(String.self, forKey: .computedAt)
    }
}
