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
    /// Perf maps that exist but could not be read (not a regular file, permission, too
    /// large), each also in `recentFileFailures`.
    public var perfMapFailures: UInt64 = 0
    /// Loaded ELF files dropped from the cache to respect its capacity.
    public var filesEvicted: UInt64 = 0
    /// Files read through a descriptor the sampler passed, no path having opened them.
    public var filesFromPassedDescriptors: UInt64 = 0
    /// Symbol names that could not be read back from a large file's string table
    /// (left in the file after loading) because the file became unreadable.
    public var unreadableSymbolNames: UInt64 = 0

    /// Process records refused by `SymbolizerOptions.maximumProcesses`.
    public var processRecordsDropped: UInt64 = 0
    /// Mappings refused by `maximumMappingsPerProcess`, `maximumMappings`, or with their process.
    public var mappingsDropped: UInt64 = 0
    /// Kernel symbols refused by `maximumKernelSymbols` (count or name bytes).
    public var kernelSymbolsDropped: UInt64 = 0
    /// CPython code records received, refused by `maximumCPythonCodes`, and unreadable
    /// (a version without a layout, copies that do not parse): the last two leave frames unnamed.
    public var cpythonCodeRecords: UInt64 = 0
    public var cpythonCodeRecordsDropped: UInt64 = 0
    public var cpythonCodeRecordsMalformed: UInt64 = 0
    /// JVM method records received, refused by `maximumHotSpotMethods`, and unreadable
    /// (a JDK without a layout, copies that do not parse): the last two leave frames unnamed.
    public var hotspotMethodRecords: UInt64 = 0
    public var hotspotMethodRecordsDropped: UInt64 = 0
    public var hotspotMethodRecordsMalformed: UInt64 = 0
    /// JVM code records (an nmethod's inlining scopes) received, refused by
    /// `maximumHotSpotMethods`, and of a JDK without a layout: the last two leave the
    /// nmethod's frames unnamed.
    public var hotspotCodeRecords: UInt64 = 0
    public var hotspotCodeRecordsDropped: UInt64 = 0
    public var hotspotCodeRecordsMalformed: UInt64 = 0
    /// Perl sub records received, refused by `maximumPerlSubs`, and unreadable (a release
    /// without a layout, copies that do not parse): the last two leave frames unnamed.
    public var perlSubRecords: UInt64 = 0
    public var perlSubRecordsDropped: UInt64 = 0
    public var perlSubRecordsMalformed: UInt64 = 0
    /// Ruby iseq records received, refused by `maximumRubyISeqs`, and undecodable.
    public var rubyISeqRecords: UInt64 = 0
    public var rubyISeqRecordsDropped: UInt64 = 0
    public var rubyISeqRecordsMalformed: UInt64 = 0
    /// PHP function records received, refused by `maximumPHPFunctions`, and unusable (a
    /// version without a layout, an unknown function type, an unreadable name).
    public var phpFunctionRecords: UInt64 = 0
    public var phpFunctionRecordsDropped: UInt64 = 0
    public var phpFunctionRecordsMalformed: UInt64 = 0
    /// BEAM function records received, refused by `maximumBEAMFunctions`, and unusable (an
    /// ERTS without a layout, an unreadable name, an arity above 255).
    public var beamFunctionRecords: UInt64 = 0
    public var beamFunctionRecordsDropped: UInt64 = 0
    public var beamFunctionRecordsMalformed: UInt64 = 0
    /// V8 function records received, refused by `maximumV8Functions`, and of a build
    /// without a layout here: the last two leave frames unnamed.
    public var v8FunctionRecords: UInt64 = 0
    public var v8FunctionRecordsDropped: UInt64 = 0
    public var v8FunctionRecordsMalformed: UInt64 = 0
    /// V8 code records (optimized code and the functions inlined into it) received, refused
    /// by the same bound, and of a build without a layout here: the last two show the code's
    /// frames as their outermost function only.
    public var v8CodeRecords: UInt64 = 0
    public var v8CodeRecordsDropped: UInt64 = 0
    public var v8CodeRecordsMalformed: UInt64 = 0

    /// Line tables read (DWARF `.debug_line` or Go `.gopclntab`), one per file and reading.
    public var lineTablesLoaded: UInt64 = 0
    /// Files whose line information is malformed or unreadable: their frames keep their
    /// names, without lines.
    public var lineTableFailures: UInt64 = 0
    /// Files whose line table exceeds `SymbolizerOptions.maximumLineRows`: no lines.
    public var lineTablesOverLimit: UInt64 = 0
    /// Line tables dropped to stay within `maximumLineTableBytes`.
    public var lineTablesEvicted: UInt64 = 0
    /// Bytes of the line tables held, as of the last one read.
    public var lineTableBytes: UInt64 = 0
    /// Frames given a source file and line, counted as `framesResolved` (once per stack).
    public var framesWithLines: UInt64 = 0

    public static let recentFailureLimit = 32

    public init() {}
}
