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
    /// Symbolized stacks kept: this many whole samples' stacks (kernel + user frames
    /// of one process's address space; kernel-only stacks are shared by all
    /// processes). A stack costs about 56 bytes per frame.
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
