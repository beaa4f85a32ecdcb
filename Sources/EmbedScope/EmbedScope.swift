/// EmbedScope: an embedding similarity search engine for image datasets.
public enum EmbedScopeVersion {
    public static let string = "0.1.0"
}
