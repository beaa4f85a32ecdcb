// swift-tools-version:6.1
// A package that uses EmbedScope as a library, the way a user's project would: it depends on the
// repository by path and sees only the public API. Scripts/test.sh builds and runs it.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name (the clone's name, which we do not choose).
let repository = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().deletingLastPathComponent()

let package = Package(
    name: "Example",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(name: "Example", dependencies: [.product(name: "EmbedScope", package: repository.lastPathComponent)]),
    ]
)
