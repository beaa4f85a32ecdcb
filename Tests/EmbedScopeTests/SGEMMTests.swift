import XCTest
import CKernels
@testable import EmbedScope
@testable import EmbedScopeCore

/// Every GEMM path (forced), OpenBLAS included, against a Double reference on odd shapes,
/// padded leading dimensions, beta, bias, residual and each activation.
///
/// Error measure per element: |got − ref| / (Σ_p |a_ip · b_pj| + |beta · c_ij| + |bias_j| + |res_ij| + 1e-30),
/// the scale a float32 sum of these terms is rounded against. Bar: 1e-5 (float32 accumulation over
/// k ≤ 1,280 in blocks, observed ≤ ~1e-6). NaN fails the comparison (`!(err <= bar)`).
final class SGEMMTests: XCTestCase {
    static let bar = 1e-5

    var paths: [GEMMPath] { GEMMPath.allCases.filter(\.isSupported) }

    struct Case {
        var m: Int, n: Int, k: Int
        var transposed: Bool
        var beta: Float
        var bias: Bool
        var residual: Bool
        var activation: GEMMActivation
        var pad: Int  // extra leading-dimension padding of A, B, C, R
        var aTransposed = false  // A given as [k × m]
    }

    /// `info --system`: what it reports agrees with what the kernels use; OPENBLAS_CORETYPE is only read.
    func testSystemInfoReportsTheKernelInUse() throws {
        let info = SystemInfo.collect()
        // Threads per core from Linux's sibling lists.
        XCTAssertEqual(CPUInfo.countCPUList("0\n"), 1)
        XCTAssertEqual(CPUInfo.countCPUList("0-1"), 2)
        XCTAssertEqual(CPUInfo.countCPUList("0,64"), 2)
        XCTAssertEqual(CPUInfo.countCPUList("0-3,8-11"), 8)
        XCTAssertNil(CPUInfo.countCPUList("3-1"))
        XCTAssertNil(CPUInfo.countCPUList("x"))
        XCTAssertNil(CPUInfo.countCPUList(""))
        if let t = info.cpu.threadsPerCore { XCTAssertTrue((1...8).contains(t), "\(t)") }
        // The caches the kernels size their blocks to: as detected (or the 32 KB / 512 KB fallback), in range.
        XCTAssertEqual(info.cpu.l1dBytes, Int(ck_l1d_bytes()))
        XCTAssertEqual(info.cpu.l2Bytes, Int(ck_l2_bytes()))
        XCTAssertTrue((8 << 10)...(1 << 20) ~= info.cpu.l1dBytes, "L1d \(info.cpu.l1dBytes)")
        XCTAssertTrue((64 << 10)...(64 << 20) ~= info.cpu.l2Bytes, "L2 \(info.cpu.l2Bytes)")
        XCTAssertTrue(info.text.contains("L1d \(info.cpu.l1dBytes >> 10) KiB, L2 \(info.cpu.l2Bytes >> 10) KiB"), info.text)
        XCTAssertEqual(info.gemmPath, SGEMM.path.rawValue)
        XCTAssertTrue(info.gemmSupportedPaths.contains("portable"))
        XCTAssertEqual(info.blas.library, "OpenBLAS")
        XCTAssertFalse(info.blas.core.isEmpty)
        XCTAssertEqual(info.blas.coretypeEnvironment, ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].flatMap { $0.isEmpty ? nil : $0 })
        // Every OpenBLAS variable the user set is listed as set (OPENBLAS_L2_SIZE is set on purpose on some VMs).
        let blasVariables = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("OPENBLAS_") || $0.key.hasPrefix("GOTO_") }
        XCTAssertEqual(info.blas.environment, blasVariables)
        for (k, v) in blasVariables where k != "OPENBLAS_CORETYPE" { XCTAssertTrue(info.text.contains("\(k)=\(v)"), k) }
        XCTAssertFalse(info.hotPaths.isEmpty)
        XCTAssertTrue(info.text.contains("core \(info.blas.core)"), info.text)
        // The half scan's line names the path in use and whether it prefetches (not on AMD).
        let half = try XCTUnwrap(info.hotPaths.first { $0.work.hasPrefix("single query on a half copy") })
        XCTAssertTrue(half.kernel.contains("(\(HalfPath.current.rawValue);"), half.kernel)
        let amd = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.contains("AuthenticAMD") ?? false
        if ProcessInfo.processInfo.environment["EMBEDSCOPE_HALF_PREFETCH"] == nil, HalfPath.current != .portable {
            XCTAssertTrue(half.kernel.hasSuffix(amd ? "software prefetch off)" : "software prefetch on)"), half.kernel)
        }
        // The AMD family CPUID gives is /proc/cpuinfo's on AMD, 0 elsewhere; the silhouette line
        // says where its Strassen tiles start.
        XCTAssertEqual(SGEMM.amdFamily, amd ? try XCTUnwrap(info.cpu.family) : 0)
        let tiles = try XCTUnwrap(info.hotPaths.first { $0.work == "silhouette / neighbour tiles" })
        let minimumRows = SGEMM.strassenMinimumRows(path: SGEMM.path)
        if SGEMM.path != .openblas {
            XCTAssertTrue(tiles.kernel.hasSuffix(minimumRows > 0 ? "from \(minimumRows) rows" : "on full tiles"), tiles.kernel)
        }
        XCTAssertEqual(minimumRows, SGEMM.path == .avx512 && SGEMM.amdFamily >= 26 ? 32_768 : 0)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(info)) as? [String: Any]
        XCTAssertNotNil(json?["hotPaths"] as? [Any])
        // Huge pages: the selected mode of the sysfs file, and whether our large buffers ask for them.
        XCTAssertEqual(SystemInfo.hugePageMode("always [madvise] never\n"), "madvise")
        XCTAssertEqual(SystemInfo.hugePageMode("[always] madvise never"), "always")
        XCTAssertNil(SystemInfo.hugePageMode("always madvise never"))
        XCTAssertNil(SystemInfo.hugePageMode(nil))
        XCTAssertEqual(info.hugePages.advised, ProcessInfo.processInfo.environment["EMBEDSCOPE_HUGEPAGES"] != "0")
        XCTAssertTrue(info.text.contains("transparent huge pages: \(info.hugePages.system ?? "not available")"), info.text)
    }

    /// The one-time stderr warning names the work left on OpenBLAS, the core and a variable the
    /// user set; there is none on a core OpenBLAS knows. (Tests never set OPENBLAS_CORETYPE:
    /// the text is checked on a described BLAS.)
    func testGenericCoreWarningNamesTheWork() throws {
        var b = BLASInfo.current
        b.core = "Prescott"; b.genericCore = true; b.version = "0.3.21"; b.coretypeEnvironment = "Prescott"
        let text = try XCTUnwrap(BLASInfo.genericWarning(b, work: "the PCA / LDA scatter"))
        XCTAssertTrue(text.hasPrefix("embedscope: warning: OpenBLAS 0.3.21 runs its generic Prescott kernels"), text)
        XCTAssertTrue(text.contains("(OPENBLAS_CORETYPE=Prescott is set)"), text)
        XCTAssertTrue(text.contains("the PCA / LDA scatter runs on OpenBLAS"), text)
        XCTAssertTrue(text.hasSuffix("\n"))
        b.coretypeEnvironment = nil
        XCTAssertFalse(try XCTUnwrap(BLASInfo.genericWarning(b, work: "x")).contains("OPENBLAS_CORETYPE"))
        b.core = "Haswell"; b.genericCore = false
        XCTAssertNil(BLASInfo.genericWarning(b, work: "x"))
    }

    /// The GEMM operands' allocator: 64-byte aligned below the huge-page threshold, 2 MiB aligned
    /// from it on, every byte writable and read back; a packed matrix that large (the classifier
    /// head's 1,280 × 1,000) still multiplies exactly as a small one.
    func testLargeBuffersAreAlignedAndUsable() throws {
        for bytes in [1, 100, 4096, LargeBuffer.hugePageThreshold - 1, LargeBuffer.hugePageThreshold, 9 << 20] {
            let p = try XCTUnwrap(LargeBuffer.allocate(bytes: bytes))
            defer { LargeBuffer.deallocate(p) }
            let alignment = bytes >= LargeBuffer.hugePageThreshold && LargeBuffer.advisesHugePages ? 2 << 20 : 64
            XCTAssertEqual(Int(bitPattern: p) % alignment, 0, "\(bytes) bytes")
            let b = p.bindMemory(to: UInt8.self, capacity: bytes)
            for i in stride(from: 0, to: bytes, by: 4093) { b[i] = UInt8(truncatingIfNeeded: i) }
            b[bytes - 1] = 0xA5
            for i in stride(from: 0, to: bytes - 1, by: 4093) { XCTAssertEqual(b[i], UInt8(truncatingIfNeeded: i)) }
            XCTAssertEqual(b[bytes - 1], 0xA5)
        }
        let (k, n) = (1280, 1000)
        let w = seededFloats(k * n, seed: 71)
        let x = seededFloats(3 * k, seed: 72)
        for path in [GEMMPath.avx512, .avx2, .portable].filter(\.isSupported) {
            let packed = PackedMatrix.packing(w, k: k, n: n, path: path)
            var c = [Float](repeating: .nan, count: 3 * n)
            x.withUnsafeBufferPointer { xb in
                c.withUnsafeMutableBufferPointer { packed.multiply(m: 3, a: xb.baseAddress!, lda: k, c: $0.baseAddress!, ldc: n) }
            }
            var worst = 0.0
            for i in 0..<3 {
                for j in 0..<n {
                    var ref = 0.0
                    for p in 0..<k { ref += Double(x[i * k + p]) * Double(w[p * n + j]) }
                    worst = max(worst, abs(Double(c[i * n + j]) - ref))
                }
            }
            XCTAssertLessThan(worst, 1e-3, "\(path): max |Δ| \(worst) against Double")
        }
    }

    func testPathsAreReported() {
        XCTAssertTrue(GEMMPath.portable.isSupported)
        XCTAssertTrue(SGEMM.bestPath.isSupported)
        print("SGEMM paths supported here: \(paths.map(\.rawValue)), best \(SGEMM.bestPath.rawValue)")
    }

    func testOddShapesEveryPath() {
        var cases = [Case]()
        var rng = SplitMix64(seed: 10)
        let acts: [GEMMActivation] = [.none, .relu, .relu6]
        for m in [1, 7, 13, 65] {
            for n in [1, 7, 17, 33, 63, 65] {
                for k in [1, 7, 63, 65, 300] {
                    let v = Int(rng.below(8))
                    cases.append(Case(m: m, n: n, k: k, transposed: v & 1 != 0, beta: v & 2 != 0 ? 0.5 : 0,
                                      bias: v & 4 != 0, residual: v % 3 == 0, activation: acts[v % 3], pad: v % 2 == 0 ? 3 : 0))
                }
            }
        }
        // Shapes of the hot paths: 1×1 convolutions, a 3×3 im2col, a silhouette/query tile.
        cases.append(Case(m: 1280, n: 40, k: 24, transposed: false, beta: 0, bias: true, residual: true, activation: .none, pad: 0))
        cases.append(Case(m: 49, n: 1280, k: 320, transposed: false, beta: 0, bias: true, residual: false, activation: .relu6, pad: 0))
        cases.append(Case(m: 65, n: 96, k: 1152, transposed: false, beta: 1, bias: true, residual: false, activation: .relu, pad: 5))
        cases.append(Case(m: 33, n: 130, k: 1280, transposed: true, beta: 0, bias: false, residual: false, activation: .none, pad: 1))
        // Deeper than one slice on every path (256; 1280 on AVX-512) and taller than one A block (96 / 144 rows).
        cases.append(Case(m: 100, n: 40, k: 2600, transposed: false, beta: 0.5, bias: true, residual: true, activation: .relu, pad: 2))
        cases.append(Case(m: 0, n: 5, k: 5, transposed: false, beta: 0, bias: false, residual: false, activation: .none, pad: 0))
        cases.append(Case(m: 5, n: 5, k: 0, transposed: false, beta: 0.5, bias: true, residual: true, activation: .relu, pad: 0))
        // A given transposed (the probe's gradient Rᵀ·X): every third case again, and the gradient's shape.
        for (i, c) in cases.enumerated() where i % 3 == 0 {
            var t = c
            t.aTransposed = true
            cases.append(t)
        }
        cases.append(Case(m: 10, n: 1280, k: 256, transposed: false, beta: 1, bias: false, residual: false, activation: .none, pad: 0,
                          aTransposed: true))
        cases.append(Case(m: 200, n: 33, k: 300, transposed: true, beta: 0, bias: true, residual: true, activation: .relu, pad: 2,
                          aTransposed: true))
        for path in paths {
            for (i, c) in cases.enumerated() { check(c, path: path, seed: UInt64(i)) }
        }
    }

    /// The packed layouts themselves (`ck_pack_a`, `ck_pack_b`; the AVX-512 and AVX2 paths
    /// transpose 16 × 16 / 8 × 8 blocks in registers): every element where the layout puts it,
    /// bit for bit, and zeros in the padding (rows past m to the sliver's MR, columns past n to
    /// the panel's NR), on odd shapes across the block edges (k not a multiple of 16 or 8, the
    /// AVX-512 slice of 1280) and for B given as rows (the Strassen and all-pairs column sides)
    /// or as columns.
    func testPackedLayoutsOnEveryPath() {
        var rng = SplitMix64(seed: 79)
        for path in paths where path != .openblas {
            let kp = path.kernelPath!
            let mr = Int(ck_mr(kp)), nr = Int(ck_nr(kp))
            let kc = path == .avx512 ? 1280 : 256
            for (m, k, pad) in [(1, 1, 0), (5, 7, 1), (12, 16, 0), (13, 17, 3), (31, 33, 0), (65, 63, 2), (6, 1283, 1), (40, 2600, 0)] {
                let lda = k + pad
                let a = (0..<(m * lda)).map { _ in Float(rng.gaussian()) }
                // A: slice pc (depth kc) at pc · mp; in it sliver s at s · mr · kcs, element (i, p) at p · mr + i mod mr.
                let mp = (m + mr - 1) / mr * mr
                var packedA = [Float](repeating: .nan, count: Int(mp * k))
                a.withUnsafeBufferPointer { ap in packedA.withUnsafeMutableBufferPointer { ck_pack_a(kp, m, k, ap.baseAddress!, lda, $0.baseAddress!) } }
                var wrongA = 0
                for pc in stride(from: 0, to: k, by: kc) {
                    let kcs = min(kc, k - pc)
                    for i in 0..<mp {
                        for p in 0..<kcs {
                            let want: Float = i < m ? a[i * lda + pc + p] : 0
                            let got = packedA[pc * mp + (i / mr) * mr * kcs + p * mr + i % mr]
                            if got.bitPattern != want.bitPattern { wrongA += 1 }
                        }
                    }
                }
                XCTAssertEqual(wrongA, 0, "\(path) pack_a \(m)×\(k) lda \(lda)")
                // B (k × n, here n = m): panel q at q · stride, element (p, j) at p · nr + j mod nr, zeros past n
                // and past k · nr to the stride; given as rows of Bᵀ (csb = ldb) or as rows of B (rsb = ldb).
                for transposed in [true, false] {
                    let n = m
                    let ldb = transposed ? lda : n + pad
                    let b = transposed ? a : (0..<(k * ldb)).map { _ in Float(rng.gaussian()) }
                    let stride = Int(ck_panel_stride(kp, k))
                    let count = Int(ck_packed_b_count(kp, k, n))
                    var packedB = [Float](repeating: .nan, count: count)
                    b.withUnsafeBufferPointer { bp in
                        packedB.withUnsafeMutableBufferPointer {
                            ck_pack_b(kp, k, n, bp.baseAddress!, transposed ? 1 : ldb, transposed ? ldb : 1, $0.baseAddress!)
                        }
                    }
                    var wrongB = 0
                    for q in 0..<((n + nr - 1) / nr) {
                        for t in 0..<stride {
                            let p = t / nr, j = q * nr + t % nr
                            let want: Float = p < k && j < n ? (transposed ? b[j * ldb + p] : b[p * ldb + j]) : 0
                            if packedB[q * stride + t].bitPattern != want.bitPattern { wrongB += 1 }
                        }
                    }
                    XCTAssertEqual(wrongB, 0, "\(path) pack_b \(k)×\(n) transposed \(transposed)")
                }
            }
        }
    }

    /// A packed whole (`PackedRows`, the all-pairs scans' row blocks) gives the same values, bit
    /// for bit, as A packed block by block inside the GEMM, on every own path, across the A block
    /// (96 rows on AVX-512, 144 on AVX2) and slice (1280 deep on AVX-512, else 256) edges; an
    /// empty pack gives nothing.
    func testPrepackedRowsEqualPackingInside() {
        for path in paths where path != .openblas {
            var rng = SplitMix64(seed: 77)
            for (m, n, k, lda) in [(1, 1, 1, 1), (13, 33, 7, 9), (193, 65, 257, 260), (400, 70, 600, 600), (12, 32, 1280, 1281), (100, 33, 2600, 2601)] {
                let a = (0..<(m * lda)).map { _ in Float(rng.gaussian()) }
                let b = (0..<(n * k)).map { _ in Float(rng.gaussian()) }
                let pb = PackedMatrix.packing(b, k: k, n: n, transposed: true, path: path)
                var inside = [Float](repeating: .nan, count: m * n)
                var prepacked = [Float](repeating: .nan, count: m * n)
                a.withUnsafeBufferPointer { ap in
                    pb.multiply(m: m, a: ap.baseAddress!, lda: lda, c: &inside, ldc: n)
                    let rows = PackedRows(path: path)
                    rows.pack(m: min(3, m), k: k, a: ap.baseAddress!, lda: lda)  // reused buffer: packed again below
                    rows.pack(m: m, k: k, a: ap.baseAddress!, lda: lda)
                    prepacked.withUnsafeMutableBufferPointer { rows.multiply(by: pb, c: $0.baseAddress!, ldc: n) }
                }
                XCTAssertFalse(inside.contains { $0.isNaN }, "\(path) \(m)×\(n)×\(k)")
                XCTAssertEqual(prepacked.map(\.bitPattern), inside.map(\.bitPattern), "\(path) \(m)×\(n)×\(k)")
            }
        }
    }

    /// The strictly lower product of a block with itself (the silhouette's diagonal tiles): every
    /// element with j < i equals the full product's, bit for bit, on every own path, across the
    /// A block and slice edges; the micro-tiles wholly on or above the diagonal are not written
    /// (so about half the tile is computed).
    func testStrictlyLowerProductOfABlockWithItself() {
        for path in paths where path != .openblas {
            var rng = SplitMix64(seed: 78)
            for (m, k) in [(1, 1), (2, 3), (13, 7), (63, 65), (65, 63), (193, 257), (512, 1280), (100, 2600)] {
                let a = (0..<(m * k)).map { _ in Float(rng.gaussian()) }
                let pb = PackedMatrix.packing(a, k: k, n: m, transposed: true, path: path)
                var full = [Float](repeating: .nan, count: m * m)
                var lower = [Float](repeating: .nan, count: m * m)
                a.withUnsafeBufferPointer { ap in
                    let rows = PackedRows(path: path)
                    rows.pack(m: m, k: k, a: ap.baseAddress!, lda: k)
                    full.withUnsafeMutableBufferPointer { rows.multiply(by: pb, c: $0.baseAddress!, ldc: m) }
                    lower.withUnsafeMutableBufferPointer { rows.multiply(by: pb, c: $0.baseAddress!, ldc: m, strictlyLower: true) }
                }
                XCTAssertFalse(full.contains { $0.isNaN }, "\(path) \(m)×\(k)")
                var mismatches = 0, untouched = 0
                for i in 0..<m {
                    for j in 0..<m {
                        if j < i { if lower[i * m + j].bitPattern != full[i * m + j].bitPattern { mismatches += 1 } }
                        else if lower[i * m + j].isNaN { untouched += 1 }
                    }
                }
                XCTAssertEqual(mismatches, 0, "\(path) \(m)×\(k)")
                if m >= 256 {
                    XCTAssertGreaterThan(Double(untouched), 0.35 * Double(m * m), "\(path) \(m)×\(k): the upper micro-tiles are skipped")
                }
            }
        }
    }

    /// One level of Strassen–Winograd (CKernels/strassen.c) on every own path, against a Double
    /// reference on odd shapes (h and k odd, k = 1, depths across the AVX2 path's 256-deep
    /// slices), with rows of very different norms. The bound is the one the silhouette's
    /// exactness test assumes: entry (i, j) within a small multiple of ε₃₂·k·τ_i·τ_j, τ the larger
    /// norm of a row and its partner (i ± h) — a wrong formula is off by O(τ²). NaN is kept.
    func testStrassenTileMatchesDoubleReferenceEveryPath() {
        for path in paths where path != .openblas {
            var rng = SplitMix64(seed: 91)
            for (h, k) in [(1, 1), (1, 2), (5, 7), (6, 63), (13, 65), (37, 129), (48, 640), (6, 1280), (1, 1281), (144, 321)] {
                let rows = 2 * h
                func draw() -> [Float] {
                    var x = (0..<(rows * k)).map { _ in Float(rng.gaussian()) }
                    // Rows of norm ~1000× and ~1/1000× the others, paired with ordinary ones.
                    for r in stride(from: 0, to: rows, by: 3) {
                        let scale: Float = r % 2 == 0 ? 1000 : 1e-3
                        for p in 0..<k { x[r * k + p] *= scale }
                    }
                    return x
                }
                let x = draw(), y = draw()
                let a = StrassenBlock(path: path, side: .rows), b = StrassenBlock(path: path, side: .columns)
                x.withUnsafeBufferPointer { a.pack(h: h, k: k, x: $0.baseAddress!, ldx: k) }
                y.withUnsafeBufferPointer { b.pack(h: h, k: k, x: $0.baseAddress!, ldx: k) }
                let ldc = rows + 3
                var c = [Float](repeating: .nan, count: rows * ldc)
                var scratch = [Float](repeating: 0, count: h * h)
                c.withUnsafeMutableBufferPointer { cp in
                    scratch.withUnsafeMutableBufferPointer { a.multiply(by: b, c: cp.baseAddress!, ldc: ldc, scratch: $0.baseAddress!) }
                }
                func norm(_ m: [Float], _ r: Int) -> Double { (0..<k).reduce(0.0) { $0 + Double(m[r * k + $1]) * Double(m[r * k + $1]) }.squareRoot() }
                let tx = (0..<rows).map { Swift.max(norm(x, $0), norm(x, $0 < h ? $0 + h : $0 - h)) }
                let ty = (0..<rows).map { Swift.max(norm(y, $0), norm(y, $0 < h ? $0 + h : $0 - h)) }
                var worst = 0.0
                for i in 0..<rows {
                    for j in 0..<rows {
                        var ref = 0.0
                        for p in 0..<k { ref += Double(x[i * k + p]) * Double(y[j * k + p]) }
                        let err = abs(Double(c[i * ldc + j]) - ref) / (0x1p-24 * Double(k) * tx[i] * ty[j])
                        if !(err <= 16) {
                            XCTFail("\(path) h \(h) k \(k): C[\(i)][\(j)] = \(c[i * ldc + j]), reference \(ref), \(err) × ε·k·τ_i·τ_j")
                            return
                        }
                        worst = Swift.max(worst, err)
                    }
                }
                XCTAssertLessThan(worst, 16, "\(path) h \(h) k \(k)")
                // Past the tile: untouched.
                XCTAssertTrue(c[0 * ldc + rows].isNaN && c[(rows - 1) * ldc + rows + 2].isNaN, "\(path) h \(h) k \(k)")
            }
            // A NaN in a row of X: that row of C is NaN throughout.
            let h = 5, k = 9
            var x = (0..<(2 * h * k)).map { Float($0 % 7) - 3 }
            x[2 * k + 4] = .nan
            let y = (0..<(2 * h * k)).map { Float($0 % 5) - 2 }
            let a = StrassenBlock(path: path, side: .rows), b = StrassenBlock(path: path, side: .columns)
            x.withUnsafeBufferPointer { a.pack(h: h, k: k, x: $0.baseAddress!, ldx: k) }
            y.withUnsafeBufferPointer { b.pack(h: h, k: k, x: $0.baseAddress!, ldx: k) }
            var c = [Float](repeating: 0, count: 4 * h * h), scratch = [Float](repeating: 0, count: h * h)
            c.withUnsafeMutableBufferPointer { cp in
                scratch.withUnsafeMutableBufferPointer { a.multiply(by: b, c: cp.baseAddress!, ldc: 2 * h, scratch: $0.baseAddress!) }
            }
            XCTAssertTrue((0..<(2 * h)).allSatisfy { c[2 * 2 * h + $0].isNaN }, "\(path): row 2 of C")
        }
    }

    /// The silhouette's row epilogue (C, per path) against a Double reference, and identical
    /// values on every path: tails of every length, rounding below zero, NaN kept, the
    /// refinement flag raised only by pairs below the threshold.
    func testSilhouetteRowKernelMatchesReferenceOnEveryPath() {
        var rng = SplitMix64(seed: 79)
        for n in [1, 7, 8, 9, 63, 65, 512, 1280] {
            let g = (0..<n).map { _ in Float(rng.gaussian()) * 0.4 }
            let w = (0..<n).map { _ in 1 + abs(rng.gaussian()) }
            let tj = (0..<n).map { _ in abs(rng.gaussian()) * 0.01 }
            let colStart = (0..<n).map { _ in rng.gaussian() }
            let u = 1.0, ti = 1.0
            // Reference: the same expression in Swift, then sqrt(max(·, 0)).
            let d2 = (0..<n).map { (u + w[$0]) - 2 * Double(g[$0]) }
            let refLow = (0..<n).contains { d2[$0] < ti * tj[$0] }
            let dist = d2.map { $0 < 0 ? 0 : $0.squareRoot() }
            var results: [(low: Bool, r: [Double], col: [Double], sum: Double)] = []
            for path in paths.compactMap(\.kernelPath) {
                var r = [Double](repeating: .nan, count: n), col = colStart
                let low = SilhouetteRowKernel.squaredDistances(n, g: g, u: u, w: w, ti: ti, tj: tj, into: &r, path: path)
                XCTAssertEqual(r, d2, "n \(n) path \(path): squared distances")
                let sum = col.withUnsafeMutableBufferPointer { SilhouetteRowKernel.distanceSum(n, &r, colAcc: $0.baseAddress!, path: path) }
                XCTAssertEqual(low, refLow, "n \(n) path \(path)")
                XCTAssertEqual(r, dist, "n \(n) path \(path): distances")
                XCTAssertEqual(col, zip(colStart, dist).map { $0 + $1 }, "n \(n) path \(path): column sums")
                XCTAssertEqual(sum, dist.reduce(0, +), accuracy: 1e-12 * Double(n), "n \(n) path \(path)")
                results.append((low, r, col, sum))
            }
            for x in results.dropFirst() { XCTAssertEqual(x.sum.bitPattern, results[0].sum.bitPattern, "n \(n): the same sum on every path") }
        }
        // A pair below the threshold raises the flag (in the vector part and in the tail); NaN
        // and −0.0…−ε rounding are kept / clamped.
        for path in paths.compactMap(\.kernelPath) {
            for at in [0, 5, 8, 12] {
                let n = 13
                var g = [Float](repeating: 0, count: n)
                g[at] = 1   // d² = 2 − 2 = 0 < ti·tj
                var r = [Double](repeating: 0, count: n)
                XCTAssertTrue(SilhouetteRowKernel.squaredDistances(n, g: g, u: 1, w: [Double](repeating: 1, count: n), ti: 1,
                                                                  tj: [Double](repeating: 0.01, count: n), into: &r, path: path), "path \(path) at \(at)")
            }
            var r: [Double] = [4, -1e-17, .nan, 9, 1, 1, 1, 1, 1, .nan]
            let sum = SilhouetteRowKernel.distanceSum(r.count, &r, colAcc: nil, path: path)
            XCTAssertTrue(sum.isNaN, "path \(path): NaN poisons the sum")
            XCTAssertEqual(r[0], 2); XCTAssertEqual(r[1], 0); XCTAssertTrue(r[2].isNaN); XCTAssertTrue(r[9].isNaN)
        }
    }

    /// Columns from a panel boundary on, as the model splits a layer by output channels.
    func testColumnRangeAndThreads() {
        for path in paths {
            var rng = SplitMix64(seed: 77)
            let m = 70, k = 45, n = 100
            let a = (0..<(m * k)).map { _ in Float(rng.gaussian()) }
            let b = (0..<(k * n)).map { _ in Float(rng.gaussian()) }
            let bias = (0..<n).map { _ in Float(rng.gaussian()) }
            let packed = PackedMatrix.packing(b, k: k, n: n, path: path)
            var whole = [Float](repeating: .nan, count: m * n)
            var pieces = [Float](repeating: .nan, count: m * n)
            let w = packed.panelWidth
            a.withUnsafeBufferPointer { ap in
                bias.withUnsafeBufferPointer { bp in
                    packed.multiply(m: m, a: ap.baseAddress!, lda: k, c: &whole, ldc: n, bias: bp.baseAddress!, activation: .relu, threads: 2)
                    let cuts = [0, min(w, n), min(3 * w, n), n]
                    for i in 0..<(cuts.count - 1) where cuts[i] < cuts[i + 1] {
                        packed.multiply(m: m, a: ap.baseAddress!, lda: k, c: &pieces, ldc: n, bias: bp.baseAddress!,
                                        activation: .relu, columns: cuts[i]..<cuts[i + 1])
                    }
                }
            }
            // Our kernels compute each element the same way whatever the split; OpenBLAS may not (edge kernels).
            var worst = 0.0
            for i in 0..<(m * n) {
                let e = Double(abs(whole[i] - pieces[i])) / (1 + Double(abs(whole[i])))
                if !(e <= worst) { worst = e; if e.isNaN { break } }
            }
            XCTAssertTrue(worst <= 1e-5, "\(path): column pieces differ from the whole by \(worst) relative (bar 1e-5)")
        }
    }

    /// The A blocks hold at most half of L2 (`ck_l2_bytes`): with a smaller L2 more, shorter
    /// blocks, and the same bits (each element still sums its depth slices in order), on every
    /// path — 300 rows (AVX-512: one 96-row block at 1 MB, 48 at 512 KB, 12 at 128 KB), 1,300
    /// deep (two slices), a Double reference beside.
    func testBlockingFollowsL2WithTheSameBits() {
        defer { ck_set_cache_sizes(0, 0) }
        let m = 300, n = 70, k = 1300
        let a = seededFloats(m * k, seed: 41), b = seededFloats(k * n, seed: 42)
        for path in paths {
            var outputs: [[Float]] = []
            for l2 in [1 << 20, 512 << 10, 128 << 10, 16 << 10] {
                ck_set_cache_sizes(48 << 10, l2)
                var c = [Float](repeating: .nan, count: m * n)
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        SGEMM.multiply(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, bTransposed: false,
                                       c: &c, ldc: n, path: path)
                    }
                }
                outputs.append(c)
            }
            var worst = 0.0
            for i in stride(from: 0, to: m, by: 37) {
                for j in 0..<n {
                    var r = 0.0
                    for p in 0..<k { r += Double(a[i * k + p]) * Double(b[p * n + j]) }
                    worst = max(worst, abs(Double(outputs[0][i * n + j]) - r))
                }
            }
            XCTAssertLessThanOrEqual(worst, 2e-3, "\(path): max |Δ| vs Double over sampled rows")
            for (i, c) in outputs.enumerated().dropFirst() {
                XCTAssertEqual(c.map(\.bitPattern), outputs[0].map(\.bitPattern), "\(path): result \(i) differs from the 1 MB L2 blocking")
            }
        }
    }

    /// beta = 0 never reads C (NaN there is ignored); a NaN in A reaches its output row through ReLU.
    func testNaNHandling() {
        for path in paths {
            let m = 9, n = 20, k = 11
            var a = [Float](repeating: 0.25, count: m * k)
            a[3 * k + 5] = .nan
            let b = [Float](repeating: 0.5, count: k * n)
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    SGEMM.multiply(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, bTransposed: false,
                                   c: &c, ldc: n, activation: .relu6, path: path)
                }
            }
            for i in 0..<m {
                for j in 0..<n {
                    let v = c[i * n + j]
                    if i == 3 {
                        XCTAssertTrue(v.isNaN, "\(path): row with a NaN input gave \(v) at (\(i), \(j)), expected NaN")
                    } else {
                        XCTAssertEqual(Double(v), min(6, 11 * 0.125), accuracy: 1e-6, "\(path) at (\(i), \(j))")
                    }
                }
            }
        }
    }

    func check(_ t: Case, path: GEMMPath, seed: UInt64) {
        var rng = SplitMix64(seed: 1000 + seed)
        let lda = (t.aTransposed ? t.m : t.k) + t.pad, ldc = t.n + t.pad, ldr = t.n + 2 * t.pad
        let aRows = t.aTransposed ? t.k : t.m
        let ldb = (t.transposed ? t.k : t.n) + t.pad
        let bRows = t.transposed ? t.n : t.k
        func draw(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.gaussian()) } }
        let a = draw(max(1, aRows * lda)), b = draw(max(1, bRows * ldb))
        func av(_ i: Int, _ p: Int) -> Double { Double(t.aTransposed ? a[p * lda + i] : a[i * lda + p]) }
        let c0 = draw(max(1, t.m * ldc)), bias = draw(max(1, t.n)), res = draw(max(1, t.m * ldr))
        var c = c0
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                bias.withUnsafeBufferPointer { biasp in
                    res.withUnsafeBufferPointer { rp in
                        SGEMM.multiply(m: t.m, n: t.n, k: t.k, a: ap.baseAddress!, lda: lda, aTransposed: t.aTransposed,
                                       b: bp.baseAddress!, ldb: ldb,
                                       bTransposed: t.transposed, c: &c, ldc: ldc, beta: t.beta,
                                       bias: t.bias ? biasp.baseAddress! : nil, residual: t.residual ? rp.baseAddress! : nil,
                                       ldr: ldr, activation: t.activation, path: path)
                    }
                }
            }
        }
        var worst = 0.0, at = (0, 0), expected = 0.0, observed: Float = 0
        outer: for i in 0..<t.m {
            for j in 0..<t.n {
                var s = 0.0, scale = 0.0
                for p in 0..<t.k {
                    let bv = Double(t.transposed ? b[j * ldb + p] : b[p * ldb + j])
                    s += av(i, p) * bv
                    scale += abs(av(i, p) * bv)
                }
                let bc = Double(t.beta) * Double(c0[i * ldc + j])
                s += bc; scale += abs(bc)
                if t.bias { s += Double(bias[j]); scale += abs(Double(bias[j])) }
                if t.residual { s += Double(res[i * ldr + j]); scale += abs(Double(res[i * ldr + j])) }
                switch t.activation {
                case .none: break
                case .relu: s = max(0, s)
                case .relu6: s = min(6, max(0, s))
                }
                let got = c[i * ldc + j]
                let e = abs(Double(got) - s) / (scale + 1e-30)
                if !(e <= worst) {
                    worst = e; at = (i, j); expected = s; observed = got
                    if e.isNaN { break outer }
                }
            }
        }
        XCTAssertTrue(worst <= Self.bar,
                      "\(path) m \(t.m) n \(t.n) k \(t.k) transposed \(t.transposed) beta \(t.beta) bias \(t.bias) residual \(t.residual) "
                      + "\(t.activation) pad \(t.pad): relative error \(worst) at \(at) (expected \(expected), observed \(observed)), bar \(Self.bar)")
        // Padding between rows of C is never written.
        if t.pad > 0 {
            for i in 0..<t.m {
                for j in t.n..<ldc where c[i * ldc + j].bitPattern != c0[i * ldc + j].bitPattern {
                    XCTFail("\(path): wrote C padding at (\(i), \(j))")
                    return
                }
            }
        }
    }
}
