/// How a `Symbolizer` finds files and how much it keeps in memory.
public struct SymbolizerOptions: Sendable, Hashable {
    /// Roots of separate debug files: `<dir>/.build-id/ab/cdef….debug` and
    /// `<dir>/<binary's directory>/<debuglink name>`.
    public var debugDirectories: [String]
    /// Where JITs write `perf-PID.map` (inside the process's own root when it has one).
    public var perfMapDirectory: String
    /// Open a process's files through `/proc/PID/root` (its mount namespace: containers),
    /// falling back to the path as the aggregator sees it.
    public var useProcessRoot: Bool
    /// Demangle C++, Rust and Swift names.
    public var demangle: Bool
    /// Symbolized stacks kept: this many user stacks, as many whole samples' stacks
    /// (kernel + user), and a quarter as many kernel stacks. A stack costs about
    /// 64 bytes per frame.
    public var stackCacheCapacity: Int
    /// Loaded ELF files kept (beyond those still mapped by a live process).
    public var fileCacheCapacity: Int
    /// Exited processes whose state is kept for samples that arrive after the exit record.
    public var exitedProcessRetention: Int
    /// Minimum time between two checks of one process's perf map for new entries.
    public var perfMapRefreshInterval: Duration

    public init(debugDirectories: [String] = ["/usr/lib/debug"], perfMapDirectory: String = "/tmp",
                useProcessRoot: Bool = true, demangle: Bool = true, stackCacheCapacity: Int = 65536,
                fileCacheCapacity: Int = 1024, exitedProcessRetention: Int = 1024,
                perfMapRefreshInterval: Duration = .seconds(1)) {
        self.debugDirectories = debugDirectories
        self.perfMapDirectory = perfMapDirectory
        self.useProcessRoot = useProcessRoot
        self.demangle = demangle
        self.stackCacheCapacity = stackCacheCapacity
        self.fileCacheCapacity = fileCacheCapacity
        self.exitedProcessRetention = exitedProcessRetention
        self.perfMapRefreshInterval = perfMapRefreshInterval
    }
}

/// A file the symbolizer could not use, and why (reported once per file).
public struct SymbolizationFileFailure: Sendable, Hashable {
    /// The path as the process maps it.
    public var path: String
    /// The failing call or check and its cause, e.g. `elf_begin: invalid file descriptor`.
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// Counters of a `Symbolizer`, cumulative since it was created.
public struct SymbolizerStatistics: Sendable, Hashable {
    public var samples: UInt64 = 0
    /// Frames given a function name. Frames are counted when a stack is first
    /// symbolized, not again on stack-cache hits.
    public var framesResolved: UInt64 = 0
    /// Frames left as `file+0xoffset`, a raw kernel address or anonymous `0x…`.
    public var framesUnresolved: UInt64 = 0
    public var stackCacheHits: UInt64 = 0
    public var stackCacheMisses: UInt64 = 0
    /// ELF files loaded, and lookups served by an already loaded file.
    public var filesLoaded: UInt64 = 0
    public var fileCacheHits: UInt64 = 0
    /// Loaded files by where their symbols came from.
    public var filesBySymbolSource: [SymbolSource: UInt64] = [:]
    /// Files that could not be opened or parsed (each counted once).
    public var fileFailures: UInt64 = 0
    /// The most recent failures (at most `recentFailureLimit`).
    public var recentFileFailures: [SymbolizationFileFailure] = []
    /// Problems with debug files or MiniDebugInfo that left a file with fewer symbols.
    public var debugInfoWarnings: UInt64 = 0
    /// Samples of a pid no `ProcessInfo` described.
    public var unknownProcessSamples: UInt64 = 0
    public var perfMapsLoaded: UInt64 = 0
    public var perfMapMalformedLines: UInt64 = 0
    /// Loaded ELF files dropped from the cache to respect its capacity.
    public var filesEvicted: UInt64 = 0

    public static let recentFailureLimit = 32

    public init() {}
}
