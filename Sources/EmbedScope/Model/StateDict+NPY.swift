import Foundation

extension Dictionary where Key == String, Value == Tensor {
    /// DEVELOPMENT / TEST PATH ONLY — not how checkpoints are meant to be read.
    ///
    /// Loads a state dict exported by `Scripts/export_state_dict.py`: one flattened float32
    /// .npy per tensor and `names.txt` with one `name<TAB>file<TAB>d0,d1,...` line per tensor
    /// (an empty shape is a 0-d tensor). The checkpoint reader replaces this for real use.
    static func loadNPYDirectory(_ url: URL) throws -> StateDict {
        let listURL = url.appendingPathComponent("names.txt")
        let list: String
        do {
            list = try String(contentsOf: listURL, encoding: .utf8)
        } catch {
            throw EmbedScopeError(.io, "cannot read the tensor list", path: listURL.path,
                                  hint: "write the directory with Scripts/export_state_dict.py", underlying: error)
        }
        var out: StateDict = [:]
        for (lineNumber, line) in list.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 3 else {
                throw EmbedScopeError(.npy, "line \(lineNumber + 1) has \(fields.count) tab-separated fields, expected 3", path: listURL.path)
            }
            var shape: [Int] = []
            for d in fields[2].split(separator: ",") {
                guard let v = Int(d), v >= 0 else {
                    throw EmbedScopeError(.npy, "line \(lineNumber + 1): bad shape '\(fields[2])'", path: listURL.path)
                }
                shape.append(v)
            }
            let array = try NPYArray.read(contentsOf: url.appendingPathComponent(String(fields[1])))
            guard array.values.count == shape.reduce(1, *) else {
                throw EmbedScopeError(.shapeMismatch, "\(fields[0]): \(array.values.count) values for shape \(shape)",
                                      path: url.appendingPathComponent(String(fields[1])).path)
            }
            out[String(fields[0])] = Tensor(shape: shape, data: array.values)
        }
        return out
    }
}
