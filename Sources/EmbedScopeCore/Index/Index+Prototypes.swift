import Foundation

extension Index {
    /// Adds (or replaces) a prototype set in an existing index as a new generation: under the
    /// writer lock, the current generation is read again (so sets, spaces and metrics other
    /// writers added meanwhile are kept), its files are carried into a new generation (vector
    /// files hard-linked, the catalog copied), the new `prototypes-<name>.vec` is written there,
    /// the catalog rows are replaced in one transaction, and `current` is switched to it. On
    /// any error the index on disk is untouched. Open `Index` values keep reading their
    /// generation; open it again to see the new set.
    ///
    /// `weights` is `names.count × dim` row-major (a classifier head), `bias` one per row; they
    /// are stored as unit rows + norms + biases, as import stores a head.
    ///
    /// `basis`: the index the head was computed from (a probe trained on its vectors). If the
    /// space's vectors of the current generation are not those (the index was rebuilt
    /// meanwhile), nothing is written and the error says so.
    public static func writePrototypeSet(at url: URL, name: String, space: String, source: String, names: [String],
                                         weights: [Float], bias: [Float], basis: Index? = nil,
                                         meta: [String: String] = [:]) throws {
        let lock = try IndexWriterLock.acquire(url, create: false)
        defer { lock.release() }
        let dim: Int
        do { // the generation current under the lock, let go before the commit removes older ones
            let idx = try Index.open(url)
            dim = try idx.space(space).dim
            if let basis, !(try idx.hasSameVectorsAndLabels(as: basis, space: space)) {
                throw EmbedScopeError(.refused, "space '\(space)' was replaced while the prototype set '\(name)' was computed from it; not stored",
                                      path: url.path, hint: "run the command again on the new index")
            }
        }
        let builder = try IndexBuilder(destination: url, overwrite: true, basedOn: url, lock: lock)
        do {
            try builder.addPrototypeSet(name: name, space: space, dim: dim, source: source, names: names,
                                        weights: weights, bias: bias)
            if !meta.isEmpty { try builder.setMeta(meta) }
            try builder.commit()
        } catch {
            builder.abort()
            throw error
        }
    }
}
