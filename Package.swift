// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "EmbedScope",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "EmbedScope", targets: ["EmbedScope"]),
        .executable(name: "embedscope", targets: ["EmbedScopeCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // Public API first.
        .target(
            name: "EmbedScope",
            dependencies: [
                "CBLAS", "CPNG", "CJPEG", "CJPEGShim", "CZlib",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "EmbedScopeCLI",
            dependencies: [
                "EmbedScope",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // C interop: one system library target per library, plus one shim for libjpeg's longjmp.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CJPEGShim", dependencies: ["CJPEG"]),

        .testTarget(
            name: "EmbedScopeTests",
            dependencies: ["EmbedScope", "EmbedScopeCLI"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
