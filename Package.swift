// swift-tools-version:6.1
import PackageDescription

// SIMD kernels (depthwise convolution, epilogues, scoring) are written with SIMD8<Float>.
// Swift's default x86-64 target is SSE2, which runs each 8-lane operation as two 4-lane ones
// and has no fused multiply-add (SIMD.addProduct becomes a libm call per lane). AVX2 + FMA
// (x86-64-v3: every x86-64 server CPU since 2013–2015) runs them as one instruction; the
// EMBEDSCOPE_FMA condition tells the kernels that addProduct is one instruction.
// EMBEDSCOPE_PORTABLE=1 builds for baseline x86-64 instead, and so does a build on a machine
// whose CPU does not report all of AVX2, FMA and F16C (`/proc/cpuinfo`): a fresh clone builds a
// binary that runs where it was built (the C kernels still choose AVX-512 / AVX2 / portable
// code at run time by CPUID). A v3 binary copied to such a CPU says so and exits 2 (sgemm.c).
#if arch(x86_64)
import Foundation

/// Whether this machine's CPU lacks one of x86-64-v3's vector features the build relies on.
/// Unknown (no /proc/cpuinfo, e.g. macOS): assume it has them, as before.
func buildMachineLacksV3() -> Bool {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
    let flags = Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
    return !["avx2", "fma", "f16c"].allSatisfy(flags.contains)
}
let portable = Context.environment["EMBEDSCOPE_PORTABLE"] != nil || buildMachineLacksV3()
let simdSettings: [SwiftSetting] = portable ? [] : [
    .unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-Xcc", "-mf16c"]),
    .define("EMBEDSCOPE_FMA"),
]
#elseif arch(arm64)
let simdSettings: [SwiftSetting] = [.define("EMBEDSCOPE_FMA")]  // NEON always has fused multiply-add
#else
let simdSettings: [SwiftSetting] = []
#endif

let package = Package(
    name: "EmbedScope",
    platforms: [.macOS(.v15)],
    products: [
        // One library for users: `import EmbedScope` brings every public layer below.
        .library(name: "EmbedScope", targets: ["EmbedScope"]),
        .executable(name: "embedscope", targets: ["EmbedScopeCLI"]),
        .executable(name: "embedscope-bench", targets: ["EmbedScopeBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // Layers, lowest first. Each depends only on the ones above it (docs/architecture.md;
        // Tests/EmbedScopeTests/LayeringTests.swift fails if an import points upwards).

        // Core: vector files, the catalog (GRDB stays inside), the index, scoring and top-k, the one
        // BLAS wrapper, partitioner, heap and thread team, errors, progress, checksums.
        .target(
            name: "EmbedScopeCore",
            dependencies: ["CBLAS", "CKernels", "CZlib", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: simdSettings
        ),
        // Images: decode (libjpeg, libpng), encode PNG, resize, the pixel-space function.
        .target(
            name: "EmbedScopeImages",
            dependencies: ["EmbedScopeCore", "CPNG", "CJPEG", "CJPEGShim", "CZlib"],
            swiftSettings: simdSettings
        ),
        // Models: the safe checkpoint reader, the native CNNs, their kernels, preprocessing.
        .target(
            name: "EmbedScopeModels",
            dependencies: ["EmbedScopeCore", "EmbedScopeImages", "CBLAS"],
            swiftSettings: simdSettings
        ),
        // Analysis: cluster metrics, neighbours, probe, projections, evaluation; owns metrics.json.
        .target(
            name: "EmbedScopeAnalysis",
            dependencies: ["EmbedScopeCore", "CBLAS"],
            swiftSettings: simdSettings
        ),
        // Report: SVG, the RGB canvas and bitmap font, image sheets, the HTML report.
        .target(
            name: "EmbedScopeReport",
            dependencies: ["EmbedScopeCore", "EmbedScopeImages", "EmbedScopeAnalysis"]
        ),
        // Pipelines: folder build, import, data sets, query by image. Re-exports the layers above.
        .target(
            name: "EmbedScope",
            dependencies: ["EmbedScopeCore", "EmbedScopeImages", "EmbedScopeModels", "EmbedScopeAnalysis", "EmbedScopeReport",
                           "CZlib"]  // gzip'd IDX files
        ),
        // The HTTP API and the explorer page (`embedscope serve`); the only target that links Hummingbird.
        .target(
            name: "EmbedScopeServer",
            dependencies: [
                "EmbedScope",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),  // MaximumAvailableConnections
            ]
        ),
        // What the two command-line tools share: JSON output, errors, paths, terminal progress.
        .target(
            name: "EmbedScopeCommandLine",
            dependencies: ["EmbedScope", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "EmbedScopeCLI",
            dependencies: [
                "EmbedScope",
                "EmbedScopeServer",
                "EmbedScopeCommandLine",
                "CStart",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `embedscope-bench`: benchmarks apart from the user's CLI (Scripts/bench_*.py run it).
        .executableTarget(
            name: "EmbedScopeBench",
            dependencies: ["EmbedScope", "EmbedScopeCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // Mutates seeded valid inputs and runs the release binary on each (Scripts/fuzz.sh).
        .executableTarget(name: "EmbedScopeFuzz", dependencies: ["EmbedScope"]),

        // C interop: one system library target per library, plus one shim for libjpeg's longjmp.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CJPEGShim", dependencies: ["CJPEG"]),
        // The command-line tool's first step, before any library's constructor (Sources/CStart/start.c):
        // under `ulimit -v` / `-u` or a full pids cgroup, the process starts again with OpenBLAS on one thread.
        .target(name: "CStart"),
        // Packed SGEMM micro-kernels: AVX-512 / AVX2 chosen at run time by CPUID (function target
        // attributes, no global -m flags). Always optimized: a -O0 kernel would make debug test runs crawl.
        // The Swift targets above are built for x86-64-v3 unless EMBEDSCOPE_PORTABLE is set: CKernels
        // then refuses to start on a CPU without it (a clear error instead of SIGILL; sgemm.c).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])] + (simdSettings.isEmpty ? [] : [.define("EMBEDSCOPE_BUILT_FOR_V3")])),

        .testTarget(
            name: "EmbedScopeTests",
            dependencies: ["EmbedScope", "EmbedScopeCLI", "CJPEGShim"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "EmbedScopeServerTests",
            dependencies: [
                "EmbedScope", "EmbedScopeServer", "EmbedScopeCLI",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
