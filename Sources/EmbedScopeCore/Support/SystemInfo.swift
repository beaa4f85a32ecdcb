import CBLAS
import CKernels
import Foundation

/// What this machine is and which kernel each hot path runs on: `embedscope info --system`.
package struct SystemInfo: Codable, Sendable {
    package struct CPU: Codable, Sendable {
        package var model: String
        package var vendor: String
        package var family: Int?
        package var modelNumber: Int?
        /// The SIMD features the kernels care about (from /proc/cpuinfo on Linux).
        package var features: [String]
        package var logicalCores: Int
        /// Hardware threads per physical core (2: SMT siblings share one core's FMA units, so two
        /// threads add little to a GEMM), from Linux's CPU topology; nil where it is not known.
        package var threadsPerCore: Int?
        /// One core's L1 data cache and L2, in bytes, as the kernels size their blocks to them
        /// (`CacheSizes`: 32 KB / 512 KB where the CPU does not say).
        package var l1dBytes: Int
        package var l2Bytes: Int
    }

    package struct BLAS: Codable, Sendable {
        package var library: String
        package var version: String
        package var config: String
        /// The core OpenBLAS runs its kernels for (`openblas_get_corename()`).
        package var core: String
        /// OpenBLAS fell back to a generic core (Prescott, Core2, …): its GEMMs run 3–5× slower.
        package var genericCore: Bool
        /// `OPENBLAS_CORETYPE` as the user set it (always respected; never changed by EmbedScope).
        package var coretypeEnvironment: String?
        /// Every `OPENBLAS_*` / `GOTO_*` variable set in the environment (`OPENBLAS_L2_SIZE`,
        /// `OPENBLAS_NUM_THREADS`, …): respected as set, never changed by EmbedScope.
        package var environment: [String: String]
        package var threads: Int
    }

    package struct HotPath: Codable, Sendable {
        package var work: String
        package var kernel: String
    }

    package var cpu: CPU
    package var blas: BLAS
    /// The GEMM path our hot paths use, the best this CPU supports, and all it supports.
    package var gemmPath: String
    package var gemmBestPath: String
    package var gemmSupportedPaths: [String]
    /// `EMBEDSCOPE_GEMM` when set but naming no path this CPU runs (then the best path is used).
    package var gemmEnvironmentIgnored: String?
    package var hotPaths: [HotPath]
    /// Transparent huge pages: the system's mode and whether the GEMMs' large operands ask for them.
    package struct HugePages: Codable, Sendable {
        /// The bracketed mode of /sys/kernel/mm/transparent_hugepage/enabled ("always", "madvise",
        /// "never"); nil where there is no such file.
        package var system: String?
        /// Whether buffers of `thresholdBytes` or more are advised (`EMBEDSCOPE_HUGEPAGES=0`: not).
        package var advised: Bool
        package var thresholdBytes: Int
    }
    package var hugePages: HugePages
    /// Threads EmbedScope runs (`CPUBudget`), and where that count came from.
    package var threads: Int
    package var threadBudget: CPUBudget.Detail
    /// The address-space limit (`ulimit -v`) in bytes; nil: none. Under one the command-line
    /// tools run OpenBLAS on one thread (`AddressSpace`).
    package var addressSpaceLimit: Int?
    /// What the binary was compiled for: "x86-64-v3" (AVX2, FMA and F16C required), "x86-64"
    /// (baseline: `EMBEDSCOPE_PORTABLE`, or built on a CPU without them), or the architecture.
    package var buildTarget: String

    package static var currentBuildTarget: String {
        #if arch(x86_64)
        return ck_built_for_v3() != 0 ? "x86-64-v3" : "x86-64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return "other"
        #endif
    }

    package static func collect() -> SystemInfo {
        let path = SGEMM.path
        let blas = BLASInfo.current
        let gemmKernel = path == .openblas ? "OpenBLAS sgemm (core \(blas.core))" : "own packed SGEMM (\(path.rawValue))"
        // Convolution GEMMs on our paths: packed weights, the activations (or patches, or
        // Winograd's V) read where they lie (ConvKernels.pointwise).
        let inPlace = path == .openblas ? gemmKernel : "own 1×1 kernel, packed weights, A read in place (\(path.rawValue))"
        let strassenRows = SGEMM.strassenMinimumRows(path: path)
        let hot: [HotPath] = [
            HotPath(work: "EfficientNet 1×1 convolutions, fused bias + activation",
                    kernel: path == .openblas ? "\(gemmKernel); Swift SIMD kernel for K ≤ 32"
                        : "own 1×1 kernel, packed weights, activations read in place (\(path.rawValue)); \(ConvKernels.smallPointwiseRule(path: path))"),
            HotPath(work: "depthwise convolutions, planar stems (direct)",
                    kernel: path == .openblas ? "Swift SIMD kernels"
                        : path == .portable ? "own C kernels (portable)"
                        : "own C kernels (\(path.rawValue)); at one image the layer before writes their input as zero-padded planes"),
            HotPath(work: "ResNet 1×1 and im2col convolutions, fused bias + activation", kernel: inPlace),
            HotPath(work: "3×3 stride-1 convolutions (ResNet)",
                    kernel: Conv3x3Algorithm.current == .winograd ? "Winograd F(2×2,3×3) + \(inPlace)" : "im2col + \(inPlace)"),
            HotPath(work: "silhouette / neighbour tiles",
                    kernel: path == .openblas ? gemmKernel : gemmKernel + "; exact silhouette with one level of Strassen–Winograd "
                        + (strassenRows > 0 ? "from \(strassenRows) rows" : "on full tiles")),
            HotPath(work: "batch queries",
                    kernel: path == .openblas ? gemmKernel : "own scan kernel, index rows multiplied where they are mapped (\(path.rawValue))"),
            HotPath(work: "linear probe", kernel: gemmKernel),
            HotPath(work: "single query", kernel: singleQueryKernel(path == .openblas ? SGEMM.bestPath : path)),
            HotPath(work: "single query on a half copy (f16 / bf16)",
                    kernel: "own conversion + dot kernel (\(HalfPath.current.rawValue); software prefetch \(ck_half_scan_prefetches() != 0 ? "on" : "off"))"),
            HotPath(work: "classifier head (network forward passes)",
                    kernel: path == .openblas ? "OpenBLAS sgemm / sgemv (core \(blas.core))"
                        : "own packed SGEMM; one image: own dot kernel (\(path.rawValue))"),
            HotPath(work: "projections (PCA/LDA), prototype evaluation, LAPACK", kernel: "OpenBLAS (core \(blas.core))"),
        ]
        return SystemInfo(cpu: CPUInfo.current, blas: blas, gemmPath: path.rawValue, gemmBestPath: SGEMM.bestPath.rawValue,
                          gemmSupportedPaths: GEMMPath.allCases.filter(\.isSupported).map(\.rawValue),
                          gemmEnvironmentIgnored: SGEMM.environmentRejected, hotPaths: hot,
                          hugePages: HugePages(system: Self.hugePageMode(), advised: LargeBuffer.advisesHugePages,
                                               thresholdBytes: LargeBuffer.hugePageThreshold),
                          threads: CPUBudget.threads, threadBudget: CPUBudget.current, addressSpaceLimit: AddressSpace.limit,
                          buildTarget: currentBuildTarget)
    }

    /// The one-query kernel on `path` and its software prefetch (`ck_scan_prefetch_bytes`).
    static func singleQueryKernel(_ path: GEMMPath) -> String {
        let kp = path.kernelPath ?? Int32(CK_PATH_PORTABLE.rawValue)
        let ahead = Int(ck_scan_prefetch_bytes(kp))
        let prefetch = ahead == 0 ? "no software prefetch" : "prefetching \(ahead >> 10) KB ahead"
        return "own dot kernel, \(prefetch) (\(path.rawValue); memory-bound; EMBEDSCOPE_SCAN_PREFETCH=<bytes> overrides)"
    }

    /// The selected mode in a transparent_hugepage/enabled file ("always [madvise] never" → "madvise").
    static func hugePageMode(_ text: String? = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) -> String? {
        guard let text, let open = text.firstIndex(of: "["), let close = text[open...].firstIndex(of: "]") else { return nil }
        let mode = text[text.index(after: open)..<close]
        return mode.isEmpty ? nil : String(mode)
    }

    package var text: String {
        var lines = [String]()
        var cpuLine = "CPU: \(cpu.model)"
        if let f = cpu.family, let m = cpu.modelNumber { cpuLine += " (\(cpu.vendor) family \(f) model \(m))" }
        lines.append(cpuLine + ", \(cpu.logicalCores) logical cores"
                     + (cpu.threadsPerCore.map { ", \($0) thread\($0 == 1 ? "" : "s") per physical core" } ?? ""))
        lines.append("features: " + (cpu.features.isEmpty ? "(none of interest)" : cpu.features.joined(separator: " ")))
        lines.append("built for: " + (buildTarget == "x86-64-v3" ? "x86-64-v3 (AVX2, FMA, F16C)"
            : buildTarget == "x86-64" ? "baseline x86-64 (Swift SIMD code without AVX2 / FMA; the C kernels still choose by CPUID)" : buildTarget))
        lines.append("caches per core (kernel blocks sized to them): L1d \(cpu.l1dBytes >> 10) KiB, L2 \(cpu.l2Bytes >> 10) KiB")
        var blasLine = "BLAS: \(blas.library) \(blas.version), core \(blas.core)"
        if blas.genericCore { blasLine += " (generic fallback: OpenBLAS GEMMs run 3–5× slower here)" }
        if let env = blas.coretypeEnvironment { blasLine += ", OPENBLAS_CORETYPE=\(env) (set by you)" }
        lines.append(blasLine + ", \(blas.threads) thread\(blas.threads == 1 ? "" : "s")")
        let others = blas.environment.filter { $0.key != "OPENBLAS_CORETYPE" }.sorted { $0.key < $1.key }
        if !others.isEmpty {
            lines.append("BLAS environment (set by you, respected): " + others.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        var gemm = "GEMM kernel: \(gemmPath) (best here: \(gemmBestPath); supported: \(gemmSupportedPaths.joined(separator: ", "))"
        gemm += "; force with \(SGEMM.environmentVariable)=avx512|avx2|portable|openblas)"
        lines.append(gemm)
        if let ignored = gemmEnvironmentIgnored {
            lines.append("note: \(SGEMM.environmentVariable)=\(ignored) names no path this CPU runs; using \(gemmPath)")
        }
        for h in hotPaths { lines.append("  \(h.work): \(h.kernel)") }
        let thp = "transparent huge pages: \(hugePages.system ?? "not available")"
        lines.append(thp + (hugePages.advised
            ? "; GEMM operands from \(hugePages.thresholdBytes >> 20) MiB advised (EMBEDSCOPE_HUGEPAGES=0: not)"
            : "; GEMM operands not advised (EMBEDSCOPE_HUGEPAGES=0)"))
        lines.append(CPUBudget.describe(threadBudget))
        if let limit = addressSpaceLimit {
            lines.append("address-space limit (ulimit -v): \(AddressSpace.mebibytes(limit))"
                         + (AddressSpace.restarted ? "; OpenBLAS on one thread (its buffers must fit under the limit)" : ""))
        }
        if AddressSpace.restartedForThreads {
            lines.append("OpenBLAS on one thread: the process limit (ulimit -u) or a pids cgroup leaves little room for its workers")
        }
        return lines.joined(separator: "\n")
    }

    /// One line for the demo and logs.
    package var summary: String {
        "\(cpu.model); BLAS \(blas.library) \(blas.version) core \(blas.core)\(blas.genericCore ? " (generic)" : ""); GEMM \(gemmPath); \(threads) thread\(threads == 1 ? "" : "s")"
    }
}

/// The data caches of one core that the kernels size their blocks to (`ck_l1d_bytes`,
/// `ck_l2_bytes`: detected once; 32 KB / 512 KB where the CPU does not say).
package enum CacheSizes {
    package static var l1dBytes: Int { Int(ck_l1d_bytes()) }
    package static var l2Bytes: Int { Int(ck_l2_bytes()) }
}

package enum CPUInfo {
    static let interesting = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw", "avx512vl",
                              "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve"]

    static var current: SystemInfo.CPU {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        var fields = [String: String]()
        for line in text.split(separator: "\n") {
            if line.isEmpty { break }  // the first processor's block is enough
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if fields[key] == nil { fields[key] = value }
        }
        let flags = Set((fields["flags"] ?? fields["Features"] ?? "").split(separator: " ").map(String.init))
        var features = interesting.filter { flags.contains($0) }
        if features.isEmpty {
            #if arch(x86_64)
            // No /proc/cpuinfo (not Linux): what the kernels' CPUID check says.
            if GEMMPath.avx2.isSupported { features.append("avx2+fma") }
            if GEMMPath.avx512.isSupported { features.append("avx512f") }
            #endif
        }
        return SystemInfo.CPU(model: fields["model name"] ?? fields["Model"] ?? "unknown", vendor: fields["vendor_id"] ?? "unknown",
                              family: fields["cpu family"].flatMap { Int($0) }, modelNumber: fields["model"].flatMap { Int($0) },
                              features: features, logicalCores: ProcessInfo.processInfo.activeProcessorCount,
                              threadsPerCore: threadsPerCore, l1dBytes: CacheSizes.l1dBytes, l2Bytes: CacheSizes.l2Bytes)
    }

    /// cpu0's SMT siblings, counted.
    static var threadsPerCore: Int? {
        guard let list = try? String(contentsOfFile: "/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", encoding: .utf8) else { return nil }
        return countCPUList(list)
    }

    /// The number of CPUs in a Linux CPU list ("0-1", "0,64", "0-3,8-11"); nil if malformed.
    package static func countCPUList(_ list: String) -> Int? {
        var count = 0
        for part in list.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",") {
            let ends = part.split(separator: "-").map { Int($0) }
            if ends.count == 1, ends[0] != nil { count += 1 }
            else if ends.count == 2, let a = ends[0], let b = ends[1], b >= a { count += b - a + 1 }
            else { return nil }
        }
        return count > 0 ? count : nil
    }
}

/// OpenBLAS as loaded: version, configuration and the core it picked.
package enum BLASInfo {
    /// OpenBLAS's generic fallback cores: what it runs when it does not know the CPU.
    static let genericCores: Set<String> = ["prescott", "core2", "katmai", "coppermine", "northwood", "banias", "atom", "nehalem", "generic"]

    package static var current: SystemInfo.BLAS {
        let config = openblas_get_config().map { String(cString: $0) } ?? ""
        let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        // The config string starts "OpenBLAS 0.3.21 …".
        let words = config.split(separator: " ")
        let version = words.count > 1 && words[0] == "OpenBLAS" ? String(words[1]) : "unknown"
        let all = ProcessInfo.processInfo.environment
        let env = all["OPENBLAS_CORETYPE"].flatMap { $0.isEmpty ? nil : $0 }
        // Not the user's: OPENBLAS_NUM_THREADS=1 that the restart under `ulimit -v` set (`AddressSpace`).
        let blasEnvironment = all.filter { ($0.key.hasPrefix("OPENBLAS_") || $0.key.hasPrefix("GOTO_"))
            && !(AddressSpace.restarted && $0.key == "OPENBLAS_NUM_THREADS") }
        return SystemInfo.BLAS(library: "OpenBLAS", version: version, config: config, core: core,
                               genericCore: genericCores.contains(core.lowercased()), coretypeEnvironment: env,
                               environment: blasEnvironment, threads: BLASThreads.cores)
    }

    /// The warning's text for `work` (nil when OpenBLAS runs a core it knows).
    package static func genericWarning(_ b: SystemInfo.BLAS, work: String) -> String? {
        guard b.genericCore else { return nil }
        let set = b.coretypeEnvironment.map { " (OPENBLAS_CORETYPE=\($0) is set)" } ?? ""
        return "embedscope: warning: OpenBLAS \(b.version) runs its generic \(b.core) kernels on this CPU\(set); "
            + "\(work) runs on OpenBLAS and is 3–5× slower here than on a core OpenBLAS knows "
            + "(see `embedscope info --system`).\n"
    }

    private static let warned = Locked(false)

    /// Says once per process on stderr, when OpenBLAS fell back to a generic core, that `work`
    /// (a hot path left on OpenBLAS: `EMBEDSCOPE_GEMM=openblas`, the projections' Double
    /// products) runs on it. The first such work is the one named.
    package static func warnIfGeneric(_ work: String = "this GEMM path (EMBEDSCOPE_GEMM=openblas)") {
        let first = warned.withLock { w -> Bool in defer { w = true }; return !w }
        guard first, let message = genericWarning(current, work: work) else { return }
        StandardStreams.error(message)
    }
}
