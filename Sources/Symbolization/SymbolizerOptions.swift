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
    /// Processes (pids) described at once per stream, exited ones kept for late samples
    /// included; records of further processes are dropped (`receivers.profiling.max_processes`).
    public var maximumProcesses: Int
    /// Executable mappings kept per process (`max_mappings_per_process`).
    public var maximumMappingsPerProcess: Int
    /// Executable mappings kept over all processes of a stream (`max_mappings`).
    public var maximumMappings: Int
    /// Kernel symbols kept per stream (`max_kernel_symbols`); their names may take
    /// `KernelSymbolTable.nameBytesPerSymbol` bytes per symbol on average.
    public var maximumKernelSymbols: Int
    /// CPython code objects kept over all processes of a stream (`max_cpython_code_objects`).
    public var maximumCPythonCodes: Int
    /// JVM methods kept over all processes of a stream (their method records, docs/jvm.md).
    public var maximumHotSpotMethods: Int
    /// Perl subs kept over all processes of a stream (no configuration key yet).
    public var maximumPerlSubs = defaultMaximumPerlSubs
    /// Ruby iseqs kept over all processes of a stream (as many as CPython code objects by default).
    public var maximumRubyISeqs: Int
    /// PHP functions kept over all processes of a stream (no configuration key yet).
    public var maximumPHPFunctions = defaultMaximumPHPFunctions
    /// Erlang functions kept over all processes of a stream (no configuration key yet).
    public var maximumBEAMFunctions = defaultMaximumBEAMFunctions
    /// JavaScript functions kept over all processes of a stream (V8 function records).
    public var maximumV8Functions: Int
    /// Give native and Go frames their source file and line (`Frame.sourceFile`,
    /// `sourceLine`) from DWARF `.debug_line` or Go's `.gopclntab` (`source_lines`).
    public var sourceLines: Bool
    /// Rows of one file's line table (12 bytes each): a file whose `.debug_line` gives
    /// more, or whose `.gopclntab` is larger than that many rows' bytes, gets no lines
    /// (counted in `lineTablesOverLimit`).
    public var maximumLineRows: Int
    /// Bytes of line tables kept over all loaded files: past it, the least recently used
    /// files' tables are dropped (and read again if needed).
    public var maximumLineTableBytes: Int

    /// The defaults: far above a large host (thousands of processes, about 10^5 kernel
    /// symbols plus modules), low enough that a hostile stream cannot exhaust memory.
    public static let defaultMaximumProcesses = 1 << 16
    public static let defaultMaximumMappingsPerProcess = 1 << 14
    /// 2^19: a mapping costs about 210 bytes (a flood of distinct 40-byte paths peaked at
    /// 171 MiB with this many, 277 MiB with 2^20: docs/benchmarks.md, "Chaos run"), and a
    /// large host needs a few hundred thousand (5,000 processes of 100 executable mappings).
    public static let defaultMaximumMappings = 1 << 19
    public static let defaultMaximumKernelSymbols = 1 << 19
    /// 2^16 code objects (only those on sampled stacks are sent; a large application samples
    /// a few thousand), and 64 MiB of their names and decoded line tables (1 KiB each on
    /// average: `CPythonCodeTable.bytesPerCode`).
    public static let defaultMaximumCPythonCodes = 1 << 16
    /// 2^17 methods (only those on sampled stacks are sent), and 64 MiB of their names and
    /// line tables (512 bytes each on average: `HotSpotMethodTable.bytesPerMethod`).
    public static let defaultMaximumHotSpotMethods = 1 << 17
    /// 2^16 subs (only those on sampled stacks are sent), and 32 MiB of their names and
    /// files (512 bytes each on average: `PerlSubTable.bytesPerSub`).
    public static let defaultMaximumPerlSubs = 1 << 16
    /// 2^16 functions (only those on sampled stacks are sent), and 32 MiB of their names and
    /// files (512 bytes each on average: `PHPFunctionTable.bytesPerFunction`).
    public static let defaultMaximumPHPFunctions = 1 << 16
    /// 2^16 functions (only those on sampled stacks are sent), and 32 MiB of their names and
    /// lines (512 bytes each on average: `BEAMFunctionTable.bytesPerFunction`).
    public static let defaultMaximumBEAMFunctions = 1 << 16
    /// 2^16 functions (only those on sampled stacks are sent) and 32 MiB of their names
    /// (`V8FunctionTable.bytesPerFunction` each on average).
    public static let defaultMaximumV8Functions = 1 << 16
    /// 2^22 rows (48 MiB): rows repeating their predecessor's file and line are not kept,
    /// which leaves a few million for the largest binaries.
    public static let defaultMaximumLineRows = 1 << 22
    /// 128 MiB of line tables (and Go `.gopclntab`s, kept as read) over all files: the
    /// tables of a few large binaries.
    public static let defaultMaximumLineTableBytes = 128 << 20

    public init(debugDirectories: [String] = ["/usr/lib/debug"], perfMapDirectory: String = "/tmp",
                useProcessRoot: Bool = true, demangle: Bool = true, stackCacheCapacity: Int = 65536,
                fileCacheCapacity: Int = 1024, exitedProcessRetention: Int = 1024,
                perfMapRefreshInterval: Duration = .seconds(1),
                maximumProcesses: Int = defaultMaximumProcesses,
                maximumMappingsPerProcess: Int = defaultMaximumMappingsPerProcess,
                maximumMappings: Int = defaultMaximumMappings,
                maximumKernelSymbols: Int = defaultMaximumKernelSymbols,
                maximumCPythonCodes: Int = defaultMaximumCPythonCodes,
                maximumHotSpotMethods: Int = defaultMaximumHotSpotMethods,
                maximumRubyISeqs: Int = defaultMaximumCPythonCodes,
                maximumV8Functions: Int = defaultMaximumV8Functions,
                sourceLines: Bool = true,
                maximumLineRows: Int = defaultMaximumLineRows,
                maximumLineTableBytes: Int = defaultMaximumLineTableBytes) {
        self.debugDirectories = debugDirectories
        self.perfMapDirectory = perfMapDirectory
        self.useProcessRoot = useProcessRoot
        self.demangle = demangle
        self.stackCacheCapacity = stackCacheCapacity
        self.fileCacheCapacity = fileCacheCapacity
        self.exitedProcessRetention = exitedProcessRetention
        self.perfMapRefreshInterval = perfMapRefreshInterval
        self.maximumProcesses = maximumProcesses
        self.maximumMappingsPerProcess = maximumMappingsPerProcess
        self.maximumMappings = maximumMappings
        self.maximumKernelSymbols = maximumKernelSymbols
        self.maximumCPythonCodes = maximumCPythonCodes
        self.maximumHotSpotMethods = maximumHotSpotMethods
        self.maximumRubyISeqs = maximumRubyISeqs
        self.maximumV8Functions = maximumV8Functions
        self.sourceLines = sourceLines
        self.maximumLineRows = maximumLineRows
        self.maximumLineTableBytes = maximumLineTableBytes
    }
}
