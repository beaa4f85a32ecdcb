// The code listing of Sources/EmbedScope/EmbedScope.docc/GettingStarted.md, compiled against the
// public API only. Usage: Example INDEX [PROTOTYPE]
import EmbedScope
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: Example INDEX [PROTOTYPE]\n".utf8))
    exit(2)
}
do {
    // snippet: getting-started
    // Open an index (O(1): the catalog read-only, vector files mapped on first use).
    let index = try Index.open(URL(fileURLWithPath: arguments[1]))
    print("\(index.rowCount) rows, spaces: \(index.spaces.map(\.name).joined(separator: ", "))")

    // The 3 nearest neighbours of row 0 in the default space (cosine of unit rows).
    var options = SearchOptions()
    options.k = 3
    for hit in try index.search(.row(0), options: options) {
        print("near", hit.rank, hit.row, hit.path, hit.class, String(format: "%.4f", hit.score))
    }

    // Rank every row by a classifier head's prototype: the score is the head's logit.
    if arguments.count >= 3 {
        for hit in try index.rank(prototype: arguments[2], set: nil, least: false, k: 2) {
            print("rank", hit.rank, hit.row, hit.path, hit.class, String(format: "%.4f", hit.score))
        }
    }

    // Cluster quality of the space: exact silhouette, Davies–Bouldin, Calinski–Harabasz.
    let scores = try index.clusterScores(space: try index.defaultSpace())
    print("silhouette", String(format: "%.4f", scores.silhouette.mean),
          "davies-bouldin", String(format: "%.4f", scores.daviesBouldin))
    // end-snippet
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
