// swift-tools-version:5.9
// JudgeBridge: the Swift client of the kimi-student judge service (CAWS + OpenAI-compatible routes)
// and, where Core ML exists, the on-device Judge exported by `kimi-student export coreml`.

import PackageDescription

let package = Package(
    name: "JudgeBridge",
    platforms: [
        .macOS(.v14),
        .iOS(.v17),
    ],
    products: [
        .library(name: "JudgeBridge", targets: ["JudgeBridge"]),
        .executable(name: "judge-cli", targets: ["judge-cli"]),
    ],
    targets: [
        .target(
            name: "JudgeBridge",
            path: "Sources/JudgeBridge"
        ),
        .executableTarget(
            name: "judge-cli",
            dependencies: ["JudgeBridge"],
            path: "Sources/judge-cli"
        ),
        .testTarget(
            name: "JudgeBridgeTests",
            dependencies: ["JudgeBridge"],
            path: "Tests/JudgeBridgeTests"
        ),
    ]
)
