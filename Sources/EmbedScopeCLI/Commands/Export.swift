import ArgumentParser
import EmbedScope
import EmbedScopeCommandLine
import Foundation

extension Root {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export", abstract: "Export one space for other tools: X.npy, norms.npy, rows.csv (+ W.npy, b.npy, head-classes.txt).",
            discussion: reflow("""
            X.npy: float32 [n, d], the unit rows as stored (row i = catalog row i); norms.npy: each row's \
            original norm; rows.csv: row,path,class,split. With a prototype set on the space (--set, default \
            head / imagenet / the only one): W.npy [C, d], b.npy [C], head-classes.txt. `embedscope import \
            --vectors X.npy --manifest rows.csv --head W.npy --bias b.npy --head-classes head-classes.txt` \
            reads them back. --out must be missing, empty, or an earlier export; exports into one --out run \
            one after another.
            """))

        @Argument(help: "Index directory.") var index: String
        @Option(help: "Space to export (default: embedding if the index has it, else its first space).") var space: String?
        @Option(help: "Prototype set to export as W.npy / b.npy.") var set: String?
        @Option(help: "Folder to write.") var out: String
        @OptionGroup var output: OutputOptions
        /// Also how long to wait for another export into the same --out.
        @OptionGroup var lockOptions: LockOptions

        func run() throws {
            lockOptions.apply()
            try runCommand {
                let s = try IndexExport.run(index: resolveURL(index), space: space, out: resolveURL(out), prototypeSet: set)
                if output.json {
                    struct J: Encodable {
                        var out: String; var space: String; var rows: Int; var dim: Int; var prototypeSet: String?; var files: [String]
                        enum CodingKeys: String, CodingKey { case out, space, rows, dim, prototypeSet, files }
                        func encode(to encoder: any Encoder) throws { // prototypeSet: null when there is none
                            var c = encoder.container(keyedBy: CodingKeys.self)
                            try c.encode(out, forKey: .out); try c.encode(space, forKey: .space); try c.encode(rows, forKey: .rows)
                            try c.encode(dim, forKey: .dim); try c.encode(prototypeSet, forKey: .prototypeSet); try c.encode(files, forKey: .files)
                        }
                    }
                    try printJSON(J(out: s.out.path, space: s.space, rows: s.rows, dim: s.dim, prototypeSet: s.prototypeSet, files: s.files))
                } else {
                    print("exported space '\(s.space)' (\(s.rows) × \(s.dim)) to \(s.out.path): \(s.files.joined(separator: ", "))"
                          + (s.prototypeSet.map { " (prototype set '\($0)')" } ?? ""))
                }
            }
        }
    }
}
