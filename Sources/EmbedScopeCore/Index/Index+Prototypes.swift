import Foundation

extension Index {
    /// Adds (or replaces) a prototype set in an existing index, crash-safely: the index is
    /// copied into a temporary sibling (vector files hard-linked, the catalog copied), the new
    /// `prototypes-<name>.vec` is written as a new file there, the catalog rows are replaced in
    /// one transaction, and the directory is renamed into place. On any error the index on
    /// disk is untouched. Open `Index` values keep reading the old files; open it again to see
    /// the new set.
    ///
    /// `weights` is `names.count × dim` row-major (a classifier head), `bias` one per row; they
    /// are stored as unit rows + norms + biases, as import stores a head.
    public static func writePrototypeSet(at url: URL, name: String, space: String, source: String, names: [String],
                                         weights: [Float], bias: [Float]) throws {
        let idx = try Index.open(url)
        let s = try idx.space(space)
        let builder = try IndexBuilder(destination: url, overwrite: true, basedOn: url)
        do {
            try builder.addPrototypeSet(name: name, space: space, dim: s.dim, source: source, names: names,
                                        weights: weights, bias: bias)
            try builder.commit()
        } catch {
            builder.abort()
            throw error
        }
    }
}
