import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A regular file mapped whole, read-only (`PROT_READ`, `MAP_SHARED`), and unmapped when the
/// last reference goes: the storage under `VectorFile` and `HalfVectorFile`.
///
/// Opening never blocks (`RegularFile` refuses a FIFO or device in the file's place), and a file
/// shorter than `minimumSize` bytes is refused as truncated before anything is mapped. A caller
/// that finds the mapped bytes invalid just throws: the mapping goes with this object.
/// `@unchecked`: every stored property is immutable and the memory is never written.
package final class ReadOnlyMapping: @unchecked Sendable {
    package let base: UnsafeRawPointer
    package let length: Int

    /// `header` names what the first `minimumSize` bytes are, for the error ("64-byte header").
    package init(path: String, minimumSize: Int, header: String) throws {
        let (fd, size) = try RegularFile.open(path)
        defer { close(fd) }
        guard size >= minimumSize else {
            throw EmbedScopeError(.truncated, "file is \(size) bytes, shorter than the \(minimumSize)-byte \(header)",
                                  path: path, hint: "the index is damaged; rebuild it")
        }
        // Under `ulimit -v`, the file and some room to work with it, or a clear error (the
        // allocation that finds no room after the mapping would trap).
        try AddressSpace.require(size.addingReportingOverflow(AddressSpace.workingRoom).partialValue,
                                 for: "mapping \(AddressSpace.mebibytes(size)) of vectors (and room to work with them)")
        guard let m = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), m != MAP_FAILED else {
            throw EmbedScopeError(.io, "mmap failed: \(String(cString: strerror(errno)))", path: path)
        }
        base = UnsafeRawPointer(m)
        length = size
    }

    /// The first `count` bytes (at most `length`).
    package func prefix(_ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: Swift.min(count, length))
    }

    /// Hints the kernel that the whole file will be read sequentially, soon.
    /// (`madvise` advice values are not flags: two calls, not one with both OR-ed — that would be
    /// MADV_WILLNEED alone.)
    package func adviseSequential() {
        let p = UnsafeMutableRawPointer(mutating: base)
        _ = madvise(p, length, MADV_SEQUENTIAL)
        _ = madvise(p, length, MADV_WILLNEED)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), length) }
}
