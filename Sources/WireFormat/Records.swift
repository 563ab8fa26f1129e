/// The record types of format version 1, with their wire codes.
///
/// A reader skips codes it does not know by the record's length.
public enum RecordType: UInt64, Sendable, CaseIterable {
    case stackDefinition = 1
    case threadDefinition = 2
    case sample = 3
    case process = 4
    case mappings = 5
    case processExit = 6
    case kernelSymbols = 7
    case kernelModules = 8
    case statistics = 9
    case resetInterning = 10
    case endOfStream = 11
    case unwindTablesEvicted = 17
    /// Sampler → aggregator answer to a file request (control record 15); when it
    /// carries a descriptor, the descriptor rides as `SCM_RIGHTS` on its first byte.
    case fileDescriptor = 16
    /// A code object a sample's Python frames name (docs/cpython.md).
    case cpythonCode = 18
    /// A method a sample's Java frames name (docs/jvm.md).
    case hotspotMethod = 20
    /// An nmethod a sample's compiled Java frames name, with the scopes of the methods inlined into it (docs/jvm.md).
    case hotspotCode = 34
    /// A sub a sample's Perl frames name (docs/perl.md).
    case perlSub = 24
    /// An iseq a sample's Ruby frames name (docs/ruby.md).
    case rubyISeq = 26
    /// A function a sample's PHP frames name (docs/php.md).
    case phpFunction = 28
    /// A JavaScript function a sample's V8 frames name (docs/v8.md).
    case v8Function = 22
    /// An optimized code object a sample's V8 frames name, with the functions inlined into it (docs/v8.md).
    case v8Code = 32
    /// An Erlang function a sample's BEAM frames name (docs/beam.md).
    case beamFunction = 30
}

/// A decoded record. Interned references (`StackDefinition`, `ThreadDefinition`)
/// are resolved by the decoder: a `Sample` carries its frames and pid/tid.
public enum Record: Hashable, Sendable {
    /// The stream header; always the first record a decoder yields.
    case header(StreamHeader)
    case stackDefinition(StackDefinition)
    case threadDefinition(ThreadDefinition)
    case sample(Sample)
    case process(ProcessInfo)
    case mappings(Mappings)
    case processExit(ProcessExit)
    case kernelSymbols(KernelSymbols)
    case kernelModules(KernelModules)
    case statistics(SamplerStatistics)
    case resetInterning
    case endOfStream(EndOfStream)
    /// Unwind tables the sampler dropped from its BPF maps to make room for others.
    case unwindTablesEvicted(UnwindTablesEvicted)
    case fileDescriptor(FileDescriptorAnswer)
    case cpythonCode(CPythonCodeRecord)
    case hotspotMethod(HotSpotMethodRecord)
    case hotspotCode(HotSpotCodeRecord)
    case perlSub(PerlSubRecord)
    case rubyISeq(RubyISeqRecord)
    case phpFunction(PHPFunctionRecord)
    case v8Function(V8FunctionRecord)
    case v8Code(V8CodeRecord)
    case beamFunction(BEAMFunctionRecord)
    /// A record of a type this version does not know; skipped by length.
    case unknown(type: UInt64, length: Int)

    public var type: RecordType? {
        switch self {
        case .header: nil
        case .stackDefinition: .stackDefinition
        case .threadDefinition: .threadDefinition
        case .sample: .sample
        case .process: .process
        case .mappings: .mappings
        case .processExit: .processExit
        case .kernelSymbols: .kernelSymbols
        case .kernelModules: .kernelModules
        case .statistics: .statistics
        case .resetInterning: .resetInterning
        case .endOfStream: .endOfStream
        case .unwindTablesEvicted: .unwindTablesEvicted
        case .fileDescriptor: .fileDescriptor
        case .cpythonCode: .cpythonCode
        case .hotspotMethod: .hotspotMethod
        case .hotspotCode: .hotspotCode
        case .perlSub: .perlSub
        case .rubyISeq: .rubyISeq
        case .phpFunction: .phpFunction
        case .v8Function: .v8Function
        case .v8Code: .v8Code
        case .beamFunction: .beamFunction
        case .unknown: nil
        }
    }
}

/// Whether an interned stack holds kernel or user addresses, or one runtime's interpreter
/// frames. An interpreter kind's frames are `wordsPerFrame` words each, an even number
/// (docs/wire-format.md).
public enum StackKind: UInt64, Sendable, Hashable, CaseIterable {
    case kernel = 0
    case user = 1
    /// `CPythonFrame.words`.
    case cpython = 2
    /// `HotSpotFrame.words`.
    case hotspot = 3
    /// Four words per frame (`V8Frame.words`): a multiple of the two every interpreter kind has.
    case v8 = 4
    /// `PerlFrame.words`.
    case perl = 5
    /// `RubyFrame.words`.
    case ruby = 6
    /// `PHPFrame.words`.
    case php = 7
    /// `BEAMFrame.words`.
    case beam = 8

    /// A runtime's frames, which a sample carries in its interpreter stack.
    public var isInterpreter: Bool { self != .kernel && self != .user }

    /// Words per frame: 1 for addresses, 2 for CPython's, the JVM's, Perl's, Ruby's, PHP's and
    /// BEAM's, 4 for V8's.
    public var wordsPerFrame: Int {
        switch self {
        case .kernel, .user: 1
        case .cpython, .hotspot, .perl, .ruby, .php, .beam: 2
        case .v8: V8Frame.wordCount
        }
    }
}

/// Defines stack `id` for the rest of the stream (or until `resetInterning`).
public struct StackDefinition: Hashable, Sendable {
    /// Ids start at 1; 0 means "no stack" in a sample.
    public var id: UInt64
    public var kind: StackKind
    /// Addresses, leaf first.
    public var frames: [UInt64]

    public init(id: UInt64, kind: StackKind, frames: [UInt64]) {
        self.id = id
        self.kind = kind
        self.frames = frames
    }
}

/// Defines thread reference `id` as the thread (pid, tid) while it has `name`: a thread
/// that renames itself gets a new reference.
public struct ThreadDefinition: Hashable, Sendable {
    public var id: UInt64
    public var pid: Int32
    public var tid: Int32
    /// The thread's own name (`comm`, at most ``ThreadName/maximumLength`` bytes); empty
    /// when unknown (streams written before names were sent).
    public var name: String

    public init(id: UInt64, pid: Int32, tid: Int32, name: String = "") {
        self.id = id
        self.pid = pid
        self.tid = tid
        self.name = name
    }
}

/// Flags of a sample.
public struct SampleFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The user stack did not reach the thread's root (depth limit or a frame
    /// without frame pointer).
    public static let userStackTruncated = SampleFlags(rawValue: 1 << 0)
    /// The kernel stack could not be read.
    public static let kernelStackMissing = SampleFlags(rawValue: 1 << 1)
    /// The user stack could not be read (e.g. kernel thread, or fault).
    public static let userStackMissing = SampleFlags(rawValue: 1 << 2)
}

/// One on-CPU sample, as the decoder yields it (stacks resolved).
public struct Sample: Hashable, Sendable {
    /// `CLOCK_MONOTONIC` nanoseconds.
    public var time: UInt64
    public var pid: Int32
    public var tid: Int32
    /// The thread's name when sampled; empty when the stream does not say.
    public var threadName: String
    /// 0 for an on-CPU sample. Else an off-CPU sample: the thread was off the CPU for this
    /// long before `time`, and the stacks are those it waited with.
    public var offCPUNanoseconds: UInt64
    public var cpu: UInt32
    /// Interned ids (0 = none); stable for the stream until `resetInterning`.
    public var kernelStackID: UInt64
    public var userStackID: UInt64
    public var interpreterStackID: UInt64
    /// Kernel addresses, leaf first (empty when the sample has no kernel stack).
    public var kernelStack: [UInt64]
    /// User addresses, leaf first.
    public var userStack: [UInt64]
    /// One runtime's frames, leaf first, two words each (`cpythonFrames` reads Python's).
    public var interpreterStack: [UInt64]
    /// Whose frames `interpreterStack` holds; nil when it is empty.
    public var interpreterStackKind: StackKind?
    public var flags: SampleFlags
    /// How the runtime's walk went (0 for a process no walker follows); each runtime
    /// defines its bits (`CPythonWalkFlags`), and bit 0 is always "truncated".
    public var interpreterFlags: UInt32

    public init(time: UInt64, pid: Int32, tid: Int32, cpu: UInt32, kernelStackID: UInt64 = 0,
                userStackID: UInt64 = 0, kernelStack: [UInt64], userStack: [UInt64],
                flags: SampleFlags = [], interpreterStackID: UInt64 = 0, interpreterStack: [UInt64] = [],
                interpreterStackKind: StackKind? = nil, interpreterFlags: UInt32 = 0,
                threadName: String = "", offCPUNanoseconds: UInt64 = 0) {
        self.time = time
        self.pid = pid
        self.tid = tid
        self.threadName = threadName
        self.offCPUNanoseconds = offCPUNanoseconds
        self.cpu = cpu
        self.kernelStackID = kernelStackID
        self.userStackID = userStackID
        self.interpreterStackID = interpreterStackID
        self.kernelStack = kernelStack
        self.userStack = userStack
        self.interpreterStack = interpreterStack
        self.interpreterStackKind = interpreterStack.isEmpty ? nil : interpreterStackKind
        self.flags = flags
        self.interpreterFlags = interpreterFlags
    }

    /// The Python frames, leaf first (none when the interpreter stack is another runtime's).
    public var cpythonFrames: [CPythonFrame] {
        interpreterStackKind == .cpython ? CPythonFrame.frames(words: interpreterStack) : []
    }
    /// The Perl frames, leaf first (none when the interpreter stack is another runtime's).
    public var perlFrames: [PerlFrame] {
        interpreterStackKind == .perl ? PerlFrame.frames(words: interpreterStack) : []
    }
    /// The PHP frames, leaf first (none when the interpreter stack is another runtime's).
    public var phpFrames: [PHPFrame] {
        interpreterStackKind == .php ? PHPFrame.frames(words: interpreterStack) : []
    }
    /// The Erlang frames, leaf first (none when the interpreter stack is another runtime's).
    public var beamFrames: [BEAMFrame] {
        interpreterStackKind == .beam ? BEAMFrame.frames(words: interpreterStack) : []
    }
}

/// A process seen for the first time, or after `exec` (which replaces the pid's
/// earlier description and mappings).
public struct ProcessInfo: Hashable, Sendable {
    public var pid: Int32
    public var parentPID: Int32
    /// Start time in `CLOCK_MONOTONIC` nanoseconds (from /proc/PID/stat), 0 if unknown.
    public var startTime: UInt64
    public var comm: String
    /// Target of /proc/PID/exe; empty if unreadable (kernel threads).
    public var executablePath: String
    /// The process's cgroup v2 path (from /proc/PID/cgroup), unparsed.
    public var cgroupPath: String
    /// True when this record follows an `exec` of an already-known pid.
    public var isExec: Bool

    public init(pid: Int32, parentPID: Int32, startTime: UInt64, comm: String, executablePath: String,
                cgroupPath: String, isExec: Bool = false) {
        self.pid = pid
        self.parentPID = parentPID
        self.startTime = startTime
        self.comm = comm
        self.executablePath = executablePath
        self.cgroupPath = cgroupPath
        self.isExec = isExec
    }
}

/// One executable mapping of /proc/PID/maps.
public struct Mapping: Hashable, Sendable {
    public var start: UInt64
    public var end: UInt64
    public var fileOffset: UInt64
    /// `makedev(major, minor)` of the file's device, as /proc/PID/maps shows it.
    public var device: UInt64
    public var inode: UInt64
    /// The file path, or a pseudo name such as `[vdso]`; empty for anonymous memory.
    public var path: String

    public init(start: UInt64, end: UInt64, fileOffset: UInt64, device: UInt64, inode: UInt64, path: String) {
        self.start = start
        self.end = end
        self.fileOffset = fileOffset
        self.device = device
        self.inode = inode
        self.path = path
    }
}

/// The complete set of executable mappings of a process; replaces any earlier set.
public struct Mappings: Hashable, Sendable {
    public var pid: Int32
    public var mappings: [Mapping]

    public init(pid: Int32, mappings: [Mapping]) {
        self.pid = pid
        self.mappings = mappings
    }
}

/// Unwind tables (control stream ids) the sampler evicted: none of its processes
/// used them, and a new table needed their room. The aggregator sends a table
/// again, under a new id, when a process needs it.
public struct UnwindTablesEvicted: Hashable, Sendable {
    public var tableIDs: [UInt32]

    public init(tableIDs: [UInt32]) {
        self.tableIDs = tableIDs
    }
}

public struct ProcessExit: Hashable, Sendable {
    public var pid: Int32
    /// `CLOCK_MONOTONIC` nanoseconds.
    public var time: UInt64

    public init(pid: Int32, time: UInt64) {
        self.pid = pid
        self.time = time
    }
}

/// One entry of /proc/kallsyms.
public struct KernelSymbol: Hashable, Sendable {
    public var address: UInt64
    /// The kallsyms type letter (`t`, `T`, ...).
    public var type: UInt8
    public var name: String
    /// The module in brackets, empty for the core kernel.
    public var module: String

    public init(address: UInt64, type: UInt8, name: String, module: String = "") {
        self.address = address
        self.type = type
        self.name = name
        self.module = module
    }
}

/// A chunk of kernel symbols, sorted by address within the chunk.
public struct KernelSymbols: Hashable, Sendable {
    public var symbols: [KernelSymbol]

    public init(symbols: [KernelSymbol]) { self.symbols = symbols }
}

/// A loaded kernel module's text range (/proc/modules).
public struct KernelModule: Hashable, Sendable {
    public var name: String
    public var start: UInt64
    public var size: UInt64

    public init(name: String, start: UInt64, size: UInt64) {
        self.name = name
        self.start = start
        self.size = size
    }
}

public struct KernelModules: Hashable, Sendable {
    public var modules: [KernelModule]

    public init(modules: [KernelModule]) { self.modules = modules }
}

/// The sampler's counters, cumulative since the sampler started.
public struct SamplerStatistics: Hashable, Sendable {
    /// `CLOCK_MONOTONIC` nanoseconds of the reading.
    public var time: UInt64
    /// Counter values by counter, in code order; counters this version does not know are kept.
    public var counters: StatisticsCounters

    public init(time: UInt64, counters: StatisticsCounters) {
        self.time = time
        self.counters = counters
    }

    public subscript(_ counter: StatisticsCounter) -> UInt64 {
        counters[counter] ?? 0
    }

    /// Sum of every drop counter (saturating: the values come from the stream).
    public var totalDrops: UInt64 {
        counters.reduce(0) { sum, counter in
            guard counter.key.isDrop else { return sum }
            let (total, overflow) = sum.addingReportingOverflow(counter.value)
            return overflow ? .max : total
        }
    }
}

/// A counter of `SamplerStatistics`, by its wire code.
public struct StatisticsCounter: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Samples the BPF program produced.
    public static let samplesCollected = StatisticsCounter(rawValue: 1)
    /// Samples written to the stream: in a statistics record, those ahead of it in the
    /// stream and in earlier streams; samples discarded unsent are not counted.
    public static let samplesSent = StatisticsCounter(rawValue: 2)
    /// Dropped because the BPF ring buffer was full.
    public static let dropsRingBufferFull = StatisticsCounter(rawValue: 3)
    /// Dropped because the user-space buffer (aggregator slow or absent) was full.
    public static let dropsUserBufferFull = StatisticsCounter(rawValue: 4)
    /// Dropped because no aggregator was connected, or queued and discarded unsent when a
    /// stream ended (those are also counted in `samplesDiscardedUnsent`).
    public static let dropsDisconnected = StatisticsCounter(rawValue: 5)
    /// Dropped because the stack could not be read in BPF.
    public static let dropsStackError = StatisticsCounter(rawValue: 6)
    /// Process records lost (pid vanished before /proc could be read).
    public static let processReadErrors = StatisticsCounter(rawValue: 7)
    /// The sampler's own CPU time in user mode, nanoseconds.
    public static let samplerUserCPUNanoseconds = StatisticsCounter(rawValue: 8)
    /// The sampler's own CPU time in kernel mode, nanoseconds.
    public static let samplerSystemCPUNanoseconds = StatisticsCounter(rawValue: 9)
    /// Connections made to the aggregator.
    public static let connections = StatisticsCounter(rawValue: 10)
    /// Bytes written to the stream.
    public static let bytesSent = StatisticsCounter(rawValue: 11)
    /// Unwind tables the sampler validated and loaded into its BPF maps.
    public static let unwindTablesLoaded = StatisticsCounter(rawValue: 12)
    /// Unwind tables refused (invalid, over budget, no slot).
    public static let unwindTablesRejected = StatisticsCounter(rawValue: 13)
    /// Unwind mappings loaded (summed over the records).
    public static let unwindMappingsLoaded = StatisticsCounter(rawValue: 14)
    /// Unwind mappings refused (unknown table, not a mapping the sampler knows, over budget).
    public static let unwindMappingsRejected = StatisticsCounter(rawValue: 15)
    /// Malformed control streams (the rest of that connection's control stream is ignored).
    public static let controlStreamErrors = StatisticsCounter(rawValue: 16)
    /// Entries of the shared unwind-table array in use (a level, not cumulative).
    public static let unwindEntriesUsed = StatisticsCounter(rawValue: 17)
    /// User stacks walked with tables in BPF.
    public static let unwindStacks = StatisticsCounter(rawValue: 18)
    /// ... of which ended at the thread's root (an end-of-stack row).
    public static let unwindStacksReachedRoot = StatisticsCounter(rawValue: 19)
    /// ... of which stopped early.
    public static let unwindStacksTruncated = StatisticsCounter(rawValue: 20)
    /// Unwind tables evicted to make room (see `UnwindTablesEvicted`).
    public static let unwindTablesEvicted = StatisticsCounter(rawValue: 24)
    /// File requests received from the aggregator (control record 15).
    public static let fileRequests = StatisticsCounter(rawValue: 21)
    /// Descriptors sent (file descriptor records with status `attached`).
    public static let fileDescriptorsSent = StatisticsCounter(rawValue: 22)
    /// File requests answered without a descriptor (unknown mapping, open failed, busy, ...).
    public static let fileRequestsRefused = StatisticsCounter(rawValue: 23)
    /// Of `dropsDisconnected`: samples queued for a stream that ended before they were
    /// written (write error, the reader stopped reading, the final drain timed out).
    public static let samplesDiscardedUnsent = StatisticsCounter(rawValue: 25)
    /// Process exec/exit events lost because the BPF ring buffer was full (not samples).
    public static let processEventsLost = StatisticsCounter(rawValue: 26)
    /// BPF ring-buffer records the sampler could not read (shorter than their kind's
    /// layout, or of an unknown kind): a mismatch between the BPF program and the sampler,
    /// never expected. Counted as dropped, since each may have been a sample.
    public static let dropsMalformedRecord = StatisticsCounter(rawValue: 27)
    /// CPython process records (control record 19) the sampler checked and loaded.
    public static let cpythonProcessesLoaded = StatisticsCounter(rawValue: 28)
    /// ... refused (unknown version, a file or address the process's mappings do not back, walker off).
    public static let cpythonProcessesRejected = StatisticsCounter(rawValue: 29)
    /// Samples of processes the CPython walker follows.
    public static let cpythonWalks = StatisticsCounter(rawValue: 30)
    /// ... of which had at least one Python frame.
    public static let cpythonWalksWithFrames = StatisticsCounter(rawValue: 31)
    /// Code records the walker wrote.
    public static let cpythonCodeRecords = StatisticsCounter(rawValue: 32)
    /// Code records lost (ring buffer full, no live stream); each is sent again at its next sample.
    public static let cpythonCodeRecordsLost = StatisticsCounter(rawValue: 33)
    /// Off-CPU samples the BPF program produced (included in `samplesCollected`).
    /// Ruby process records (control record 27) loaded and refused; samples of processes the
    /// Ruby walker follows, and those with Ruby frames; iseq records lost (ring buffer full, no
    /// live stream), each sent again at its iseq's next sample.
    public static let rubyProcessesLoaded = StatisticsCounter(rawValue: 52)
    public static let rubyProcessesRejected = StatisticsCounter(rawValue: 53)
    public static let rubyWalks = StatisticsCounter(rawValue: 54)
    public static let rubyWalksWithFrames = StatisticsCounter(rawValue: 55)
    public static let rubyISeqRecordsLost = StatisticsCounter(rawValue: 56)
    public static let offCPUSamples = StatisticsCounter(rawValue: 34)
    /// Switches off the CPU chosen by the off-CPU threshold.
    public static let offCPUSwitchesRecorded = StatisticsCounter(rawValue: 35)
    /// Chosen switches not recorded: the map of threads off the CPU was full. Not a sample
    /// drop (no sample existed yet); the off-CPU time of those waits is missing.
    public static let offCPUSwitchesLost = StatisticsCounter(rawValue: 36)
    /// JVM process records (control record 21) the sampler checked and loaded.
    public static let hotspotProcessesLoaded = StatisticsCounter(rawValue: 37)
    /// ... refused (unknown JDK, addresses outside libjvm.so's data, walker off).
    public static let hotspotProcessesRejected = StatisticsCounter(rawValue: 38)
    /// Java frames the walker recorded.
    public static let hotspotFrames = StatisticsCounter(rawValue: 39)
    /// Method records the walker wrote.
    public static let hotspotMethodRecords = StatisticsCounter(rawValue: 40)
    /// Method records lost (ring buffer full, no live stream); each is sent again at its next sample.
    public static let hotspotMethodRecordsLost = StatisticsCounter(rawValue: 41)
    /// Perl process records (control record 25) the sampler checked and loaded.
    public static let perlProcessesLoaded = StatisticsCounter(rawValue: 47)
    /// ... refused (unknown release, a file or address the process's mappings do not back, walker off).
    public static let perlProcessesRejected = StatisticsCounter(rawValue: 48)
    /// Samples of processes the Perl walker follows.
    public static let perlWalks = StatisticsCounter(rawValue: 49)
    /// ... of which had at least one Perl frame.
    public static let perlWalksWithFrames = StatisticsCounter(rawValue: 50)
    /// Sub records lost (ring buffer full, no live stream); each is sent again at its next sample.
    public static let perlSubRecordsLost = StatisticsCounter(rawValue: 51)
    /// PHP process records (control record 29) loaded and refused; samples of processes the
    /// PHP walker follows, and those with PHP frames; function records lost (ring buffer full,
    /// no live stream), each sent again at its function's next sample.
    public static let phpProcessesLoaded = StatisticsCounter(rawValue: 57)
    public static let phpProcessesRejected = StatisticsCounter(rawValue: 58)
    public static let phpWalks = StatisticsCounter(rawValue: 59)
    public static let phpWalksWithFrames = StatisticsCounter(rawValue: 60)
    public static let phpFunctionRecordsLost = StatisticsCounter(rawValue: 61)
    /// Native walks of PHP processes stepped from opcache's JIT code to `execute_ex`, and
    /// walks that stopped there because the step did not check out (docs/php.md, "The JIT").
    public static let phpJITSteps = StatisticsCounter(rawValue: 67)
    public static let phpJITStops = StatisticsCounter(rawValue: 68)

    /// Events the sampler chose and could not record that are not samples (an off-CPU wait
    /// whose record found no room): no sample existed yet, so they stay apart from the drops
    /// (samples collected = sent + dropped).
    public var isUnrecordedEvent: Bool { self == .offCPUSwitchesLost }
    /// V8 process records (control record 23) the sampler checked and loaded.
    public static let v8ProcessesLoaded = StatisticsCounter(rawValue: 42)
    /// ... refused (unknown build, a file or address the process's mappings do not back, walker off).
    public static let v8ProcessesRejected = StatisticsCounter(rawValue: 43)
    /// Samples of processes the V8 walker follows.
    public static let v8Walks = StatisticsCounter(rawValue: 44)
    /// ... of which had at least one JavaScript frame.
    public static let v8WalksWithFrames = StatisticsCounter(rawValue: 45)
    /// Function records lost (ring buffer full, no live stream); each is sent again at its next sample.
    public static let v8FunctionRecordsLost = StatisticsCounter(rawValue: 46)
    /// BEAM process records (control record 31) loaded and refused; samples of processes the
    /// BEAM walker follows, and those with Erlang frames; function records lost (ring buffer
    /// full, no live stream), each sent again at its function's next sample.
    public static let beamProcessesLoaded = StatisticsCounter(rawValue: 62)
    public static let beamProcessesRejected = StatisticsCounter(rawValue: 63)
    public static let beamWalks = StatisticsCounter(rawValue: 64)
    public static let beamWalksWithFrames = StatisticsCounter(rawValue: 65)
    public static let beamFunctionRecordsLost = StatisticsCounter(rawValue: 66)
    /// Samples whose leaf is C code the BEAM walker traced back to the JIT code that called it
    /// (docs/beam.md, "C leaves"); those given their Erlang frames; those skipped as unreliable.
    public static let beamCLeafWalks = StatisticsCounter(rawValue: 69)
    public static let beamCLeafWalksWithFrames = StatisticsCounter(rawValue: 70)
    public static let beamCLeafWalksSkipped = StatisticsCounter(rawValue: 71)
    /// Times the sampler drained its ring buffer (each a wake-up: the drain interval's
    /// cost whatever the rate); of those, woken early by an exec (the doorbell).
    public static let drains = StatisticsCounter(rawValue: 72)
    public static let doorbellRings = StatisticsCounter(rawValue: 73)

    public var isDrop: Bool {
        [.dropsRingBufferFull, .dropsUserBufferFull, .dropsDisconnected, .dropsStackError, .dropsMalformedRecord]
            .contains(self)
    }

    public var description: String {
        switch self {
        case .samplesCollected: "samples_collected"
        case .samplesSent: "samples_sent"
        case .dropsRingBufferFull: "drops_ring_buffer_full"
        case .dropsUserBufferFull: "drops_user_buffer_full"
        case .dropsDisconnected: "drops_disconnected"
        case .dropsStackError: "drops_stack_error"
        case .processReadErrors: "process_read_errors"
        case .samplerUserCPUNanoseconds: "sampler_user_cpu_ns"
        case .samplerSystemCPUNanoseconds: "sampler_system_cpu_ns"
        case .connections: "connections"
        case .bytesSent: "bytes_sent"
        case .unwindTablesLoaded: "unwind_tables_loaded"
        case .unwindTablesRejected: "unwind_tables_rejected"
        case .unwindMappingsLoaded: "unwind_mappings_loaded"
        case .unwindMappingsRejected: "unwind_mappings_rejected"
        case .controlStreamErrors: "control_stream_errors"
        case .unwindEntriesUsed: "unwind_entries_used"
        case .unwindStacks: "unwind_stacks"
        case .unwindStacksReachedRoot: "unwind_stacks_reached_root"
        case .unwindStacksTruncated: "unwind_stacks_truncated"
        case .unwindTablesEvicted: "unwind_tables_evicted"
        case .fileRequests: "file_requests"
        case .fileDescriptorsSent: "file_descriptors_sent"
        case .fileRequestsRefused: "file_requests_refused"
        case .samplesDiscardedUnsent: "samples_discarded_unsent"
        case .processEventsLost: "process_events_lost"
        case .dropsMalformedRecord: "drops_malformed_record"
        case .cpythonProcessesLoaded: "cpython_processes_loaded"
        case .cpythonProcessesRejected: "cpython_processes_rejected"
        case .cpythonWalks: "cpython_walks"
        case .cpythonWalksWithFrames: "cpython_walks_with_frames"
        case .cpythonCodeRecords: "cpython_code_records"
        case .cpythonCodeRecordsLost: "cpython_code_records_lost"
        case .rubyProcessesLoaded: "ruby_processes_loaded"
        case .rubyProcessesRejected: "ruby_processes_rejected"
        case .rubyWalks: "ruby_walks"
        case .rubyWalksWithFrames: "ruby_walks_with_frames"
        case .rubyISeqRecordsLost: "ruby_iseq_records_lost"
        case .offCPUSamples: "off_cpu_samples"
        case .offCPUSwitchesRecorded: "off_cpu_switches_recorded"
        case .offCPUSwitchesLost: "off_cpu_switches_lost"
        case .hotspotProcessesLoaded: "hotspot_processes_loaded"
        case .hotspotProcessesRejected: "hotspot_processes_rejected"
        case .hotspotFrames: "hotspot_frames"
        case .hotspotMethodRecords: "hotspot_method_records"
        case .hotspotMethodRecordsLost: "hotspot_method_records_lost"
        case .perlProcessesLoaded: "perl_processes_loaded"
        case .perlProcessesRejected: "perl_processes_rejected"
        case .perlWalks: "perl_walks"
        case .perlWalksWithFrames: "perl_walks_with_frames"
        case .perlSubRecordsLost: "perl_sub_records_lost"
        case .phpProcessesLoaded: "php_processes_loaded"
        case .phpProcessesRejected: "php_processes_rejected"
        case .phpWalks: "php_walks"
        case .phpWalksWithFrames: "php_walks_with_frames"
        case .phpFunctionRecordsLost: "php_function_records_lost"
        case .phpJITSteps: "php_jit_steps"
        case .phpJITStops: "php_jit_stops"
        case .v8ProcessesLoaded: "v8_processes_loaded"
        case .v8ProcessesRejected: "v8_processes_rejected"
        case .v8Walks: "v8_walks"
        case .v8WalksWithFrames: "v8_walks_with_frames"
        case .v8FunctionRecordsLost: "v8_function_records_lost"
        case .beamProcessesLoaded: "beam_processes_loaded"
        case .beamProcessesRejected: "beam_processes_rejected"
        case .beamWalks: "beam_walks"
        case .beamWalksWithFrames: "beam_walks_with_frames"
        case .beamCLeafWalks: "beam_c_leaf_walks"
        case .beamCLeafWalksWithFrames: "beam_c_leaf_walks_with_frames"
        case .beamCLeafWalksSkipped: "beam_c_leaf_walks_skipped"
        case .beamFunctionRecordsLost: "beam_function_records_lost"
        case .drains: "drains"
        case .doorbellRings: "doorbell_rings"
        default: "counter_\(rawValue)"
        }
    }
}

/// The last record of a stream that ended on purpose.
public struct EndOfStream: Hashable, Sendable {
    public enum Reason: UInt64, Sendable {
        case finished = 0
        case shutdown = 1
        case error = 2
    }

    public var time: UInt64
    public var reason: Reason

    public init(time: UInt64, reason: Reason) {
        self.time = time
        self.reason = reason
    }
}

/// The sampler's answer to the aggregator's request for a mapped file it may not
/// read (docs/wire-format.md, 5.12). With `status == .attached` the record's first
/// byte carried one read-only descriptor as `SCM_RIGHTS` ancillary data; any other
/// status says why there is none. A capture file keeps the record, never a descriptor.
public struct FileDescriptorAnswer: Hashable, Sendable {
    public var pid: Int32
    /// Start address of the mapping the request named.
    public var start: UInt64
    /// The file's identity as the request named it (`/proc/PID/maps` encoding).
    public var device: UInt64
    public var inode: UInt64
    public var status: FileDescriptorStatus
    /// `errno` of the failed call for `.openFailed`, else 0.
    public var errorNumber: UInt32

    public init(pid: Int32, start: UInt64, device: UInt64, inode: UInt64, status: FileDescriptorStatus,
                errorNumber: UInt32 = 0) {
        self.pid = pid
        self.start = start
        self.device = device
        self.inode = inode
        self.status = status
        self.errorNumber = errorNumber
    }
}

/// Why a file descriptor answer carries a descriptor or not. Codes this version does
/// not know are kept (a later sampler may have more reasons).
public struct FileDescriptorStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// A descriptor rides on the record's first byte.
    public static let attached = FileDescriptorStatus(rawValue: 0)
    /// The sampler knows no such mapping of that pid (or the pid is gone).
    public static let unknownMapping = FileDescriptorStatus(rawValue: 1)
    /// Opening the file failed; `errorNumber` says why.
    public static let openFailed = FileDescriptorStatus(rawValue: 2)
    /// The file at the mapping's path is not the mapped file (replaced since).
    public static let identityMismatch = FileDescriptorStatus(rawValue: 3)
    /// The path names something other than a regular file.
    public static let notRegularFile = FileDescriptorStatus(rawValue: 4)
    /// Too many descriptors in flight or too many requests per second: ask again later.
    public static let busy = FileDescriptorStatus(rawValue: 5)
    /// The destination cannot carry descriptors (a capture file).
    public static let noDescriptorChannel = FileDescriptorStatus(rawValue: 6)

    public var description: String {
        switch self {
        case .attached: "attached"
        case .unknownMapping: "unknown_mapping"
        case .openFailed: "open_failed"
        case .identityMismatch: "identity_mismatch"
        case .notRegularFile: "not_regular_file"
        case .busy: "busy"
        case .noDescriptorChannel: "no_descriptor_channel"
        default: "status_\(rawValue)"
        }
    }
}
