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
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // MARK: The stream between the two processes (pure Swift: no I/O, no C).
        // The records, the sample-stream encoder and the control-record decoder: what the sampler runs.
        .target(name: "WireFormat"),
        // The sample-stream decoder (record readers, stack table): the aggregator's side only.
        .target(name: "StreamDecoding", dependencies: ["WireFormat"]),

        // MARK: ELF files as symbolization and unwind-table compilation read them (pure Swift: no C, fuzzable).
        .target(name: "ELF"),

        // MARK: Unwind tables (pure Swift: no C, fuzzable).
        // The serialized table and its validator: what the sampler loads.
        .target(name: "UnwindTableFormat"),
        // Compiles tables from .eh_frame/.debug_frame (ELF, CFA programs): the aggregator's side only.
        .target(name: "UnwindTableCompiler", dependencies: ["UnwindTableFormat", "ELF"]),
        .executableTarget(name: "unwind-tables-bench", dependencies: ["UnwindTableCompiler", "UnwindTableFormat"]),

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
        // OpenSSL's libcrypto (SHA-256 for the file ids of the profiles).
        .systemLibrary(name: "CTandemCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CTandemZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // glibc's <malloc.h> (malloc_trim): nothing to link.
        .systemLibrary(name: "CTandemMalloc"),

        // MARK: tandem-sampler (privileged).
        // Thin, typed system calls both daemons share: the owned FileDescriptor and the errno-carrying SystemCallError.
        .target(name: "SystemCalls"),
        // The core, to audit first: sampling (with bpf/sampler.bpf.c), process tracking,
        // streaming, privileges. No YAML, no stream decoder, no table compiler, no Foundation.
        //
        // Each optional part is a target of its own that the core calls, with its BPF in a
        // header of its own under bpf/, so it can be reviewed, counted
        // (scripts/privileged-lines.sh) and switched off on its own. Future interpreter walkers
        // follow the same shape, as CPythonLoading with bpf/cpython.bpf.h does.
        .target(name: "SamplerCore", dependencies: [
            "WireFormat", "CTandemBPF", "CTandemMalloc", "SystemCalls", "SamplingRateReader", "UnwindTableLoading",
            "DescriptorPassing", "CPythonLoading",
            .product(name: "Logging", package: "swift-log"),
        ], plugins: ["BPFCompiler"]),
        // The one key the sampler reads from the shared YAML configuration, without a YAML
        // library (pure Swift, fuzzed by scripts/fuzz-sampling-rate-reader.sh).
        .target(name: "SamplingRateReader", dependencies: ["WireFormat"]),
        // Optional: validates the aggregator's unwind tables and loads them into the BPF maps
        // that bpf/unwind_tables.bpf.h walks.
        .target(name: "UnwindTableLoading", dependencies: ["WireFormat", "UnwindTableFormat", "CTandemBPF", "SystemCalls"]),
        // Optional: answers the aggregator's file requests with descriptors opened inside
        // /proc/PID/root (PathDescriptor also opens the capture file safely).
        .target(name: "DescriptorPassing", dependencies: ["WireFormat", "CTandemBPF", "SystemCalls"]),
        // Optional: checks the aggregator's CPython process records against the process's
        // own mappings and loads them into the maps that bpf/cpython.bpf.h walks.
        .target(name: "CPythonLoading", dependencies: ["WireFormat", "CTandemBPF", "SystemCalls"]),
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
            "Profiles", "SystemCalls", "WireFormat",
            .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "Symbolization", dependencies: [
            "Profiles", "WireFormat", "ELF", "CTandemSymbolization", "CTandemZlib", "CTandemLZMA", "CTandemCrypto", "SystemCalls",
            "RateLimitedLogging",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Compression", dependencies: ["CTandemZlib", "CTandemSnappy", "CTandemZstd"]),
        .target(name: "ProfileOutputs", dependencies: ["Profiles", "Compression", "SystemCalls"]),
        .target(name: "ProfilingMetrics", dependencies: ["Profiles", "Configuration"]),
        // The OTLP profiles messages, generated by scripts/generate-otlp-profiles.sh and committed.
        .target(name: "OTLPProfilesProto", dependencies: [
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .target(name: "Exporters", dependencies: [
            "Profiles", "Configuration", "CTandemCurl", "Compression", "SystemCalls", "OTLPProfilesProto",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "AggregatorCore", dependencies: [
            "WireFormat", "StreamDecoding", "Profiles", "Configuration", "Symbolization",
            "ProfilingMetrics", "Exporters", "ProfileOutputs", "ELF", "UnwindTableFormat", "UnwindTableCompiler", "Compression",
            "SystemCalls",
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
        .executableTarget(name: "tandem-bench", dependencies: ["WireFormat", "StreamDecoding"], path: "bench/tandem-bench"),
        .executableTarget(name: "symbolization-bench", dependencies: [
            "Symbolization", "WireFormat", .product(name: "Logging", package: "swift-log"),
        ], path: "bench/symbolization-bench"),

        // MARK: Tests.
        .testTarget(name: "WireFormatTests", dependencies: ["WireFormat", "StreamDecoding"]),
        .testTarget(name: "SystemCallsTests", dependencies: ["SystemCalls"]),
        .testTarget(name: "PackagingTests", dependencies: [
            "Configuration", "SamplerCore",
            .product(name: "Yams", package: "Yams"),
        ]),
        .testTarget(name: "InspectionTests", dependencies: ["AggregatorCore", "WireFormat", "StreamDecoding", "SystemCalls"]),
        .testTarget(name: "AggregatorCoreTests", dependencies: [
            "AggregatorCore", "WireFormat", "StreamDecoding", "Configuration", "UnwindTableFormat", "UnwindTableCompiler",
            "Symbolization", "RateLimitedLogging", "SystemCalls",
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
            "Exporters", "Profiles", "Configuration", "Compression", "OTLPProfilesProto",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "ELFTests", dependencies: ["ELF"]),
        .testTarget(name: "UnwindTablesTests", dependencies: ["UnwindTableFormat", "UnwindTableCompiler", "ELF", "Compression"]),
        .testTarget(name: "SamplerTests", dependencies: [
            "SamplerCore", "WireFormat", "StreamDecoding", "UnwindTableFormat", "UnwindTableCompiler", "UnwindTableLoading",
            "DescriptorPassing", "SamplingRateReader", "CTandemBPF", "SystemCalls",
            // The sampler's reader of the rate is checked against the aggregator's.
            "Configuration",
        ]),
        .testTarget(name: "SamplerIntegrationTests", dependencies: ["SamplerCore", "WireFormat", "StreamDecoding"]),
        // The sampler's sendmsg and the aggregator's recvmsg of passed descriptors, over real sockets.
        .testTarget(name: "DescriptorPassingTests", dependencies: [
            "SamplerCore", "AggregatorCore", "WireFormat", "StreamDecoding", "CTandemBPF", "SystemCalls",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Root-only live tests of the built tandem-sampler and tandem-aggregator processes.
        .testTarget(name: "EndToEndTests", dependencies: ["WireFormat", "StreamDecoding"]),
    ],
    swiftLanguageModes: [.v6]
)
