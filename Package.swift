// swift-tools-version:6.0
//
// tandem: a continuous, system-wide CPU profiler split into a small privileged
// sampler and an unprivileged aggregator. See docs/ and ../shared/DESIGN.md.

import PackageDescription

let package = Package(
    name: "tandem",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tandem-sampler", targets: ["sampler"]),
        .executable(name: "tandem-aggregator", targets: ["aggregator"]),
        .library(name: "WireFormat", targets: ["WireFormat"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // MARK: The stream between the two processes (pure Swift: no I/O, no C).
        .target(name: "WireFormat"),

        // MARK: ELF files as symbolization and unwind-table compilation read them (pure Swift: no C, fuzzable).
        .target(name: "ELF"),

        // MARK: Unwind tables compiled from .eh_frame/.debug_frame (pure Swift: no C, fuzzable).
        .target(name: "UnwindTables", dependencies: ["ELF"]),
        .executableTarget(name: "unwind-tables-bench", dependencies: ["UnwindTables"]),

        // MARK: C system-library shims (module maps over Debian's -dev packages).
        .systemLibrary(name: "CTandemBPF", pkgConfig: "libbpf",
                       providers: [.apt(["libbpf-dev"])]),
        // The C++ and Swift demanglers and getauxval, for symbolization (libstdc++ only).
        .systemLibrary(name: "CTandemSymbolization"),
        .systemLibrary(name: "CTandemLZMA", pkgConfig: "liblzma",
                       providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(name: "CTandemCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CTandemZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CTandemSnappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CTandemZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // glibc's <malloc.h> (malloc_trim): nothing to link.
        .systemLibrary(name: "CTandemMalloc"),

        // MARK: tandem-sampler (privileged).
        // Thin, typed system calls both daemons share: the owned FileDescriptor and the errno-carrying SystemCallError.
        .target(name: "SystemCalls"),
        .target(name: "SamplerCore", dependencies: [
            "WireFormat", "CTandemBPF", "UnwindTables", "SystemCalls",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ], plugins: ["BPFCompiler"]),
        // Compiles bpf/*.bpf.c with the toolchain's clang and embeds the objects.
        .plugin(name: "BPFCompiler", capability: .buildTool(), dependencies: ["tandem-bpf-embed"]),
        .executableTarget(name: "tandem-bpf-embed", path: "Plugins/BPFEmbed"),
        .executableTarget(name: "sampler", dependencies: [
            "SamplerCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: tandem-aggregator (unprivileged).
        .target(name: "Profiles"),
        // Logging that a peer cannot flood: first line in full, then counted summaries.
        .target(name: "RateLimitedLogging", dependencies: [
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Configuration", dependencies: [
            "Profiles", "SystemCalls",
            .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "Symbolization", dependencies: [
            "Profiles", "WireFormat", "ELF", "CTandemSymbolization", "CTandemZlib", "CTandemLZMA", "SystemCalls",
            "RateLimitedLogging",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Compression", dependencies: ["CTandemZlib", "CTandemSnappy", "CTandemZstd"]),
        .target(name: "ProfileOutputs", dependencies: ["Profiles", "Compression", "SystemCalls"]),
        .target(name: "ProfilingMetrics", dependencies: ["Profiles", "Configuration"]),
        .target(name: "Exporters", dependencies: [
            "Profiles", "Configuration", "CTandemCurl", "Compression", "SystemCalls",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "AggregatorCore", dependencies: [
            "WireFormat", "Profiles", "Configuration", "Symbolization",
            "ProfilingMetrics", "Exporters", "ProfileOutputs", "ELF", "UnwindTables", "Compression", "SystemCalls",
            "RateLimitedLogging",
            "CTandemMalloc",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "aggregator", dependencies: [
            "AggregatorCore", "SystemCalls",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: Benchmarks (bench/replay-throughput.sh).
        .executableTarget(name: "tandem-bench", dependencies: ["WireFormat"], path: "bench/tandem-bench"),
        .executableTarget(name: "symbolization-bench", dependencies: [
            "Symbolization", "WireFormat", .product(name: "Logging", package: "swift-log"),
        ], path: "bench/symbolization-bench"),

        // MARK: Tests.
        .testTarget(name: "WireFormatTests", dependencies: ["WireFormat"]),
        .testTarget(name: "SystemCallsTests", dependencies: ["SystemCalls"]),
        .testTarget(name: "PackagingTests", dependencies: [
            "Configuration", "SamplerCore",
            .product(name: "Yams", package: "Yams"),
        ]),
        .testTarget(name: "InspectionTests", dependencies: ["AggregatorCore", "WireFormat", "SystemCalls"]),
        .testTarget(name: "AggregatorCoreTests", dependencies: [
            "AggregatorCore", "WireFormat", "Configuration", "UnwindTables", "Symbolization", "RateLimitedLogging", "SystemCalls",
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["Fixtures"]),
        .testTarget(name: "ProfileOutputsTests", dependencies: ["ProfileOutputs", "Profiles", "SystemCalls"]),
        .testTarget(name: "ConfigurationTests", dependencies: ["Configuration", "Profiles"]),
        .testTarget(name: "ProfilingMetricsTests", dependencies: ["ProfilingMetrics", "Configuration", "Profiles", "ProfileOutputs"]),
        .testTarget(name: "SymbolizationTests", dependencies: [
            "Symbolization", "ELF", "Profiles", "WireFormat",
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["Fixtures"]),
        .testTarget(name: "ExportersTests", dependencies: [
            "Exporters", "Profiles", "Configuration", "Compression",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "ELFTests", dependencies: ["ELF"]),
        .testTarget(name: "UnwindTablesTests", dependencies: ["UnwindTables", "ELF", "Compression"]),
        .testTarget(name: "SamplerTests", dependencies: ["SamplerCore", "WireFormat", "UnwindTables", "CTandemBPF", "SystemCalls"]),
        .testTarget(name: "SamplerIntegrationTests", dependencies: ["SamplerCore", "WireFormat"]),
        // The sampler's sendmsg and the aggregator's recvmsg of passed descriptors, over real sockets.
        .testTarget(name: "DescriptorPassingTests", dependencies: [
            "SamplerCore", "AggregatorCore", "WireFormat", "CTandemBPF", "SystemCalls",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Root-only live tests of the built tandem-sampler and tandem-aggregator processes.
        .testTarget(name: "EndToEndTests", dependencies: ["WireFormat"]),
    ],
    swiftLanguageModes: [.v6]
)
