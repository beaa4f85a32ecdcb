/// One JSON object from two Encodables: every key of `base`, then every key of `extra`, in
/// the same object (both must encode keyed containers, i.e. JSON objects; a key in both is
/// written twice, the later wins). The one way an output adds fields to a type it does not
/// own: the CLI's `schemaVersion`, the server's index-list entry (an `IndexInfo` plus name,
/// model, weights and metrics) and its per-class compare row.
package struct Merged<Base: Encodable, Extra: Encodable>: Encodable {
    package var base: Base
    package var extra: Extra

    package init(_ base: Base, _ extra: Extra) {
        self.base = base
        self.extra = extra
    }

    package func encode(to encoder: Encoder) throws {
        try base.encode(to: encoder)
        try extra.encode(to: encoder)
    }
}
