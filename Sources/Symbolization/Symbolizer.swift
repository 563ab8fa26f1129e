import CPythonSymbolization
import PerlSymbolization
import PHPSymbolization
import BEAMSymbolization
import RubySymbolization
import V8Symbolization
import CTandemSymbolization
import HotSpotLayouts
import HotSpotSymbolization
import Logging
import RateLimitedLogging
import Profiles
import SourceLines
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// Turns the sampler's raw stacks into named frames.
///
/// Feed it every record of the stream in order with `apply(_:)` (processes,
/// mappings, exits, kernel symbols and modules, interning resets), and call
/// `symbolize(_:)` for each sample. It reads ELF files, debug files and perf maps
/// the aggregator may read, and caches symbolized stacks by their interned id.
///
/// Not thread-safe: use one per pipeline (it may be moved between tasks, not shared).
public final class Symbolizer {
    public let options: SymbolizerOptions
    private let logger: Logger
    private let loader: ObjectFileLoader

    public private(set) var statistics = SymbolizerStatistics()

    private var processes: [Int32: ProcessState] = [:]
    private var exitedProcesses: [(pid: Int32, generation: UInt64)] = []
    private var exitedHead = 0
    private var nextGeneration: UInt64 = 1

    private var objectFiles: [FileKey: ObjectFile] = [:]
    private var failedFiles: Set<FileKey> = []
    /// A stream can name any number of unreadable files (a 2^20-process flood named 65,536):
    /// the first `fullyLoggedFailures` are logged one by one, later ones at most one line per
    /// interval; every one is counted in `statistics.fileFailures`.
    private let failureLog = RateLimitedLog(what: "unreadable files")
    private static let fullyLoggedFailures = 32
    private var useTick: UInt64 = 0
    /// Paths of processes and mappings, each with the names of a frame in it without a
    /// symbol: one copy per path. At most 100,000 (then emptied).
    private var internedPaths: [String: FrameNames] = [:]

    /// Where files no path opens may come from (the connection's descriptors from the
    /// sampler); nil for a capture or replay, whose files are only read by path.
    public var passedFiles: (any PassedFiles)?
    /// Files whose paths failed, waiting for a passed descriptor: since when (stream time)
    /// and why the paths failed. At most `maximumAwaitedFiles`: a stream naming more
    /// unreadable files at once has the others fail at once, as without descriptors.
    private var awaitedFiles: [FileKey: (since: UInt64, reasons: String)] = [:]
    static let maximumAwaitedFiles = 4096
    /// How long (stream time) a file waits for its descriptor before it counts as unreadable:
    /// the sampler answers within a drain interval (250 ms); a refusal is not seen here.
    static let passedFileWait: UInt64 = 10_000_000_000
    /// The newest sample time: the symbolizer's clock, from the stream.
    private var now: UInt64 = 0

    private var kernelSymbols = KernelSymbolTable()
    /// Mappings held over all processes, against `options.maximumMappings`.
    private var mappingCount = 0
    /// The limits already reported in this stream's log (each once).
    private var reportedLimits: Set<String> = []

    /// Whole samples' frames (kernel + user), so that a warm sample costs one lookup.
    /// The only stack cache: separate caches of user and kernel stacks would hold
    /// each frame up to three times, and naming a stack again is cheap once its
    /// files and kernel symbols are loaded (names are cached per symbol).
    private var sampleStacks: TwoGenerationCache<SampleStackKey, [Frame]>
    /// The user and kernel stacks named before (keys only, no frames), so that the
    /// statistics count a stack's frames and a cache miss once per stack, not once
    /// per combination of a user and a kernel stack it is part of.
    private var namedUserStacks: TwoGenerationCache<UserStackKey, Bool>
    private var namedKernelStacks: TwoGenerationCache<UInt64, Bool>

    private lazy var vdso: ObjectFile? = loadOwnVDSO()
    /// The code objects of CPython processes (docs/cpython.md), from code records.
    private var cpythonCodes = CPythonCodeTable()
    private var hotspotMethods = HotSpotMethodTable()
    /// The nmethods of JVM processes, from code records: the methods inlined at each pc.
    private var hotspotCodes = HotSpotCodeTable()
    private let cpythonLog = RateLimitedLog(what: "malformed CPython code records")
    private let hotspotLog = RateLimitedLog(what: "malformed JVM method records")
    /// The subs of Perl processes (docs/perl.md), from sub records.
    private var perlSubs = PerlSubTable()
    private let perlLog = RateLimitedLog(what: "malformed Perl sub records")
    /// The iseqs of Ruby processes (docs/ruby.md), from iseq records.
    private var rubyISeqs = RubyISeqTable()
    private let rubyLog = RateLimitedLog(what: "malformed Ruby iseq records")
    /// The functions of PHP processes (docs/php.md), from function records.
    private var phpFunctions = PHPFunctionTable()
    private let phpLog = RateLimitedLog(what: "malformed PHP function records")
    /// The JavaScript functions of V8 processes (docs/v8.md), from function records.
    private var v8Functions = V8FunctionTable()
    /// Optimized V8 code of those processes, from code records: which functions it inlined.
    private var v8Codes = V8CodeTable()
    /// Line ends of the scripts JavaScript frames name, counted from their files.
    private var v8ScriptLines = V8ScriptLines()
    /// The Erlang functions of BEAM processes (docs/beam.md), from function records.
    private var beamFunctions = BEAMFunctionTable()
    private let beamLog = RateLimitedLog(what: "malformed BEAM function records")
    /// Files holding a line table, with its size, for `maximumLineTableBytes`.
    private var lineTableHolders: [(object: WeakObjectFile, bytes: Int)] = []
    private let lineLog = RateLimitedLog(what: "files with unreadable source lines")

    public init(options: SymbolizerOptions = .init(), logger: Logger) {
        self.options = options
        self.logger = logger
        self.loader = ObjectFileLoader(debugDirectories: options.debugDirectories, logger: logger)
        self.sampleStacks = TwoGenerationCache(capacity: options.stackCacheCapacity)
        self.namedUserStacks = TwoGenerationCache(capacity: options.stackCacheCapacity)
        self.namedKernelStacks = TwoGenerationCache(capacity: max(2, options.stackCacheCapacity / 4))
    }

    // MARK: Records

    /// Updates the process table, mappings and kernel symbols from a stream record.
    /// Samples and records that carry nothing for symbolization are ignored.
    public func apply(_ record: Record) {
        switch record {
        case .process(let info): applyProcess(info)
        case .mappings(let mappings): applyMappings(mappings)
        case .processExit(let exit): applyExit(exit)
        case .kernelSymbols(let chunk):
            let dropped = kernelSymbols.add(chunk.symbols, limit: options.maximumKernelSymbols)
            if dropped > 0 {
                statistics.kernelSymbolsDropped += UInt64(dropped)
                reportLimit("max_kernel_symbols", options.maximumKernelSymbols,
                            "kernel symbols (or \(KernelSymbolTable.nameBytesPerSymbol) bytes of names per symbol) of this stream; later ones are dropped and their frames stay unnamed")
            }
            namedKernelStacks.removeAll()
            sampleStacks.removeAll()
        case .kernelModules(let modules):
            kernelSymbols.setModules(modules.modules)
            namedKernelStacks.removeAll()
            sampleStacks.removeAll()
        case .cpythonCode(let record):
            applyCPythonCode(record)
        case .hotspotMethod(let record):
            applyHotSpotMethod(record)
        case .hotspotCode(let record):
            applyHotSpotCode(record)
        case .perlSub(let record):
            applyPerlSub(record)
        case .rubyISeq(let record):
            applyRubyISeq(record)
        case .phpFunction(let record):
            applyPHPFunction(record)
        case .v8Function(let record):
            applyV8Function(record)
        case .v8Code(let record):
            applyV8Code(record)
        case .beamFunction(let record):
            applyBEAMFunction(record)
        case .resetInterning:
            namedUserStacks.removeAll()
            namedKernelStacks.removeAll()
            sampleStacks.removeAll()
        default:
            // Headers, stack and thread definitions (resolved by the decoder), samples,
            // statistics, end of stream: nothing to update here.
            break
        }
    }

    private func newGeneration() -> UInt64 {
        defer { nextGeneration += 1 }
        return nextGeneration
    }

    private func applyProcess(_ info: ProcessInfo) {
        let identity = ProcessIdentity(
            pid: info.pid, comm: info.comm,
            executablePath: info.executablePath.isEmpty ? nil : intern(info.executablePath),
            containerID: ContainerID.parse(cgroupPath: info.cgroupPath),
            podUID: KubernetesPodUID.parse(cgroupPath: info.cgroupPath),
            serviceName: SystemdServiceName.parse(cgroupPath: info.cgroupPath).map(intern))
        if let existing = processes[info.pid], !existing.exited, !info.isExec,
           existing.startTime == 0 || info.startTime == 0 || existing.startTime == info.startTime {
            // A repeat (after a reconnection) or the first description of a pid whose
            // mappings came first: same address space.
            if existing.identity.executablePath != identity.executablePath {
                // The executable may tell another JIT runtime: stacks typed before are stale.
                existing.jitRuntime = nil
                existing.generation = newGeneration()
            }
            existing.identity = identity
            existing.identityKnown = true
            if existing.startTime == 0 { existing.startTime = info.startTime }
            return
        }
        // A new process, a reused pid (other start time, or its exit was seen), or an
        // exec: a new address space.
        guard processes[info.pid] != nil || admitProcess() else { return }
        let process = ProcessState(identity: identity, identityKnown: true, generation: newGeneration())
        process.startTime = info.startTime
        store(process, pid: info.pid)
    }

    /// Whether one more pid fits in `options.maximumProcesses`; counts and reports a refusal.
    private func admitProcess() -> Bool {
        guard processes.count >= options.maximumProcesses else { return true }
        statistics.processRecordsDropped += 1
        reportLimit("max_processes", options.maximumProcesses,
                    "processes described at once in this stream; records of further processes are dropped and their samples count as of unknown processes")
        return false
    }

    /// Puts (or removes) the state of `pid`, keeping `mappingCount` right. A state that
    /// replaces another (exec, a reused pid) or none takes the old address space's code
    /// objects with it; code records of a pid without state yet are kept for it.
    private func store(_ process: ProcessState?, pid: Int32) {
        if let old = processes[pid] {
            mappingCount -= old.mappings.count
            if old !== process {
                cpythonCodes.remove(pid: pid)
                hotspotMethods.remove(pid: pid)
                hotspotCodes.remove(pid: pid)
                perlSubs.remove(pid: pid)
                rubyISeqs.remove(pid: pid)
                phpFunctions.remove(pid: pid)
                v8Functions.remove(pid: pid)
                v8Codes.remove(pid: pid)
                beamFunctions.remove(pid: pid)
            }
        }
        processes[pid] = process
        if let process { mappingCount += process.mappings.count }
    }

    /// Logs a limit once per stream: its name, its value, what it bounds and how to raise it.
    private func reportLimit(_ name: String, _ value: Int, _ what: String) {
        guard reportedLimits.insert(name).inserted else { return }
        logger.warning("receivers.profiling.\(name) (\(value)) reached: at most \(value) \(what) (counted as dropped in the run summary); raise receivers.profiling.\(name) if this host needs more")
    }

    private func applyMappings(_ record: Mappings) {
        let process: ProcessState
        if let existing = processes[record.pid], !existing.exited {
            process = existing
        } else {
            // A pid without room (its process record was refused, counted there): its mappings go too.
            guard processes[record.pid] != nil || processes.count < options.maximumProcesses else {
                statistics.mappingsDropped += UInt64(record.mappings.count)
                return
            }
            process = ProcessState(identity: ProcessIdentity(pid: record.pid, comm: unknownComm(record.pid)),
                                   identityKnown: false, generation: newGeneration())
            store(process, pid: record.pid)
        }
        // Keep the state (and loaded file) of mappings that did not change.
        var previous: [Mapping: MappingState] = [:]
        for state in process.mappings { previous[state.mapping] = state }
        var kept = record.mappings
            .filter { $0.end > $0.start }
            .sorted { $0.start < $1.start }
        // Within the per-process bound and what the stream's bound leaves (this
        // process's old mappings are replaced, so they make room).
        let room = max(0, min(options.maximumMappingsPerProcess,
                              options.maximumMappings - (mappingCount - process.mappings.count)))
        if kept.count > room {
            statistics.mappingsDropped += UInt64(kept.count - room)
            if kept.count > options.maximumMappingsPerProcess {
                reportLimit("max_mappings_per_process", options.maximumMappingsPerProcess,
                            "executable mappings per process; a process's mappings past it (highest addresses) are dropped and their frames stay unnamed")
            }
            if room < options.maximumMappingsPerProcess {
                reportLimit("max_mappings", options.maximumMappings,
                            "executable mappings over all processes of this stream; mappings past it are dropped and their frames stay unnamed")
            }
            kept.removeSubrange(room...)
        }
        mappingCount -= process.mappings.count
        process.mappings = kept.map { previous[$0] ?? MappingState(mapping: $0, names: pathNames($0.path)) }
        mappingCount += process.mappings.count
        process.jitRuntime = nil
        process.generation = newGeneration()
    }

    private func applyExit(_ exit: ProcessExit) {
        guard let process = processes[exit.pid], !process.exited else { return }
        process.exited = true
        exitedProcesses.append((exit.pid, process.generation))
        // Forget the oldest exited processes beyond the retention.
        while exitedProcesses.count - exitedHead > options.exitedProcessRetention {
            let oldest = exitedProcesses[exitedHead]
            exitedHead += 1
            if let state = processes[oldest.pid], state.exited, state.generation == oldest.generation {
                store(nil, pid: oldest.pid)
            }
        }
        if exitedHead > 4096 {
            exitedProcesses.removeFirst(exitedHead)
            exitedHead = 0
        }
    }

    private func applyV8Function(_ record: V8FunctionRecord) {
        statistics.v8FunctionRecords += 1
        guard let layout = Self.v8Layout(version: record.v8Version) else {
            statistics.v8FunctionRecordsMalformed += 1
            return
        }
        let function = V8Function(nameType: record.nameType, name: record.name, scriptNameType: record.scriptNameType,
                                  scriptName: record.scriptName, bytecodePositionTable: record.bytecodePositionTable,
                                  layout: layout)
        let key = V8FunctionKey(sharedFunctionInfo: record.sharedFunctionInfo, fingerprint: record.fingerprint)
        if !v8Functions.insert(function, pid: record.pid, key: key, limit: options.maximumV8Functions) {
            statistics.v8FunctionRecordsDropped += 1
            reportLimit("max_v8_functions", options.maximumV8Functions,
                        "JavaScript functions (or \(V8FunctionTable.bytesPerFunction) bytes of names per function on average) over all processes of this stream; frames of further ones stay unnamed")
        }
    }

    private func applyV8Code(_ record: V8CodeRecord) {
        statistics.v8CodeRecords += 1
        guard let layout = Self.v8Layout(version: record.v8Version) else {
            statistics.v8CodeRecordsMalformed += 1
            return
        }
        // Sparkplug code's record carries its bytecodes where optimized code's has inlining positions.
        let code = UInt16(record.codeKind) == layout.codeKindBaseline
            ? V8Code(bytecodes: record.inliningPositions, bytecodeOffsetTable: record.sourcePositionTable,
                     bytecodeSizes: Self.v8BytecodeSizes(layout))
            : V8Code(functionCount: record.inlinedFunctions.count, inliningPositions: record.inliningPositions,
                     sourcePositionTable: record.sourcePositionTable)
        let key = V8CodeKey(instructionStart: record.instructionStart, fingerprint: record.fingerprint)
        if !v8Codes.insert((code, record.inlinedFunctions), pid: record.pid, key: key, limit: options.maximumV8Functions) {
            statistics.v8CodeRecordsDropped += 1
            reportLimit("max_v8_functions", options.maximumV8Functions,
                        "optimized JavaScript code objects (or \(V8FunctionTable.bytesPerFunction) bytes of their tables each on average) over all processes of this stream; functions inlined into further ones stay unnamed")
        }
    }

    private func applyCPythonCode(_ record: CPythonCodeRecord) {
        statistics.cpythonCodeRecords += 1
        guard let layout = Self.cpythonLayout(version: record.pythonVersion) else {
            statistics.cpythonCodeRecordsMalformed += 1
            cpythonLog.log(.warning, "a code record of CPython \(record.pythonVersion >> 8).\(record.pythonVersion & 0xff), which has no layout here (pid \(record.pid))", to: logger)
            return
        }
        let code: CPythonCode
        do {
            code = try CPythonCode(header: record.header, name: record.name,
                                                        qualifiedName: record.qualifiedName, file: record.fileName,
                                                        lineTable: record.lineTable, layout: layout)
        } catch {
            statistics.cpythonCodeRecordsMalformed += 1
            cpythonLog.log(.warning, "pid \(record.pid), code object 0x\(String(record.code, radix: 16)): \(error); its frames stay unnamed", to: logger)
            return
        }
        let key = CPythonCodeKey(code: record.code, fingerprint: record.fingerprint)
        if !cpythonCodes.insert(code, pid: record.pid, key: key, limit: options.maximumCPythonCodes) {
            statistics.cpythonCodeRecordsDropped += 1
            reportLimit("max_cpython_code_objects", options.maximumCPythonCodes,
                        "CPython code objects (or \(CPythonCodeTable.bytesPerCode) bytes of names and line ranges per object on average) over all processes of this stream; frames of further ones stay unnamed")
        }
        // Stacks named before this code came may hold its frame unnamed: they were not cached.
    }

    private func applyHotSpotMethod(_ record: HotSpotMethodRecord) {
        statistics.hotspotMethodRecords += 1
        guard let index = HotSpotLayout.index(ofFeatureVersion: Int(record.featureVersion)) else {
            statistics.hotspotMethodRecordsMalformed += 1
            hotspotLog.log(.warning, "a method record of JDK \(record.featureVersion), which has no layout here (pid \(record.pid))", to: logger)
            return
        }
        let method: HotSpotMethod
        do {
            method = try HotSpotMethod(decoding: HotSpotMethodCopies(
                constMethod: record.constMethod, className: record.className, methodName: record.methodName,
                sourceFile: record.sourceFile, lineTable: record.lineTable), layout: HotSpotLayout.supported[index])
        } catch {
            statistics.hotspotMethodRecordsMalformed += 1
            hotspotLog.log(.warning, "pid \(record.pid), method 0x\(String(record.method, radix: 16)): \(error); its frames stay unnamed", to: logger)
            return
        }
        let key = HotSpotMethodKey(method: record.method, fingerprint: record.fingerprint)
        if !hotspotMethods.insert(method, pid: record.pid, key: key, limit: options.maximumHotSpotMethods) {
            statistics.hotspotMethodRecordsDropped += 1
            reportLimit("max_jvm_methods", options.maximumHotSpotMethods,
                        "JVM methods (or \(HotSpotMethodTable.bytesPerMethod) bytes of names and line tables per method on average) over all processes of this stream; frames of further ones stay unnamed")
        }
    }

    private func applyHotSpotCode(_ record: HotSpotCodeRecord) {
        statistics.hotspotCodeRecords += 1
        guard let index = HotSpotLayout.index(ofFeatureVersion: Int(record.featureVersion)) else {
            statistics.hotspotCodeRecordsMalformed += 1
            hotspotLog.log(.warning, "a code record of JDK \(record.featureVersion), which has no layout here (pid \(record.pid))", to: logger)
            return
        }
        let code = HotSpotCode(record, layout: HotSpotLayout.supported[index])
        let key = HotSpotMethodKey(method: record.code, fingerprint: record.fingerprint)
        if !hotspotCodes.insert(code, pid: record.pid, key: key, limit: options.maximumHotSpotMethods) {
            statistics.hotspotCodeRecordsDropped += 1
            reportLimit("max_jvm_methods", options.maximumHotSpotMethods,
                        "JVM compiled methods (or \(HotSpotCodeTable.bytesPerCode) bytes of their scopes per method on average) over all processes of this stream; frames of further ones stay unnamed")
        }
    }

    /// The Java frames of a sample named with the process's method and code records, each
    /// with its native slot: a compiled frame stands for the methods inlined at its pc,
    /// innermost first, then its own method.
    func namedHotSpotFrames(_ java: [HotSpotFrame], pid: Int32) -> (frames: [(slot: Int, frame: Frame)], complete: Bool) {
        var complete = true
        var named: [(slot: Int, frame: Frame)] = []
        named.reserveCapacity(java.count)
        func method(_ key: HotSpotMethodKey) -> HotSpotMethod? { hotspotMethods.method(pid: pid, key) }
        for frame in java {
            let frames: [(Frame, complete: Bool)]
            if frame.kind == .compiledCode {
                let key = HotSpotMethodKey(method: frame.method, fingerprint: frame.fingerprint)
                frames = hotspotCodes.code(pid: pid, key).map { $0.frames(atPCOffset: frame.position, method: method) }
                    ?? [(Frame(type: .jvm, address: frame.method), false)]
            } else {
                frames = [Self.hotspotFrame(frame, method: method(HotSpotMethodKey(method: frame.method, fingerprint: frame.fingerprint)))]
            }
            for (one, done) in frames {
                if one.functionName != nil { statistics.framesResolved += 1 } else { statistics.framesUnresolved += 1 }
                complete = complete && done
                named.append((Int(frame.slot), one))
            }
        }
        return (named, complete)
    }

    private func applyPerlSub(_ record: PerlSubRecord) {
        statistics.perlSubRecords += 1
        let version = "\(record.perlVersion >> 16).\(record.perlVersion >> 8 & 0xff).\(record.perlVersion & 0xff)"
        guard let layout = Self.perlLayout(version: record.perlVersion) else {
            statistics.perlSubRecordsMalformed += 1
            perlLog.log(.warning, "a sub record of perl \(version), which has no layout here (pid \(record.pid))", to: logger)
            return
        }
        let sub: PerlSub
        do {
            sub = try PerlSub(flags: PerlSubFlags(rawValue: record.flags), name: record.name, package: record.package,
                              file: record.file, layout: layout)
        } catch {
            statistics.perlSubRecordsMalformed += 1
            perlLog.log(.warning, "pid \(record.pid), sub 0x\(String(record.address, radix: 16)): \(error); its frames stay unnamed", to: logger)
            return
        }
        let key = PerlSubKey(address: record.address, fingerprint: record.fingerprint)
        if !perlSubs.insert(sub, pid: record.pid, key: key, limit: options.maximumPerlSubs) {
            statistics.perlSubRecordsDropped += 1
            reportLimit("max_perl_subs", options.maximumPerlSubs,
                        "Perl subs (or \(PerlSubTable.bytesPerSub) bytes of names and files per sub on average) over all processes of this stream; frames of further ones stay unnamed")
        }
    }

    /// Names a sample's Perl frames (leaf first) and merges them into `frames` at the
    /// native run loops; `complete` is false when a frame's sub record may still come.
    func mergingPerlFrames(_ perl: [PerlFrame], pid: Int32, into frames: [Frame], userStart: Int) -> (frames: [Frame], complete: Bool) {
        var named: [Frame] = []
        named.reserveCapacity(perl.count)
        var complete = true
        for frame in perl {
            let (one, known) = Self.perlFrame(frame, sub: perlSubs.sub(pid: pid, PerlSubKey(address: frame.address, fingerprint: frame.fingerprint)))
            if one.functionName != nil { statistics.framesResolved += 1 } else { statistics.framesUnresolved += 1 }
            complete = complete && known
            named.append(one)
        }
        let merged = CPythonFrameMerge.merge(named, entries: perl.map { $0.flags.contains(.entry) }, into: frames,
                                             userStart: userStart, at: PerlFrameMerge.runLoops)
        return (merged, complete)
    }

    private func applyRubyISeq(_ record: RubyISeqRecord) {
        statistics.rubyISeqRecords += 1
        guard let layout = Self.rubyLayout(version: record.rubyVersion) else {
            statistics.rubyISeqRecordsMalformed += 1
            rubyLog.log(.warning, "an iseq record of Ruby \(record.rubyVersion >> 8).\(record.rubyVersion & 0xff), which has no layout here (pid \(record.pid))", to: logger)
            return
        }
        let iseq: RubyISeq
        do {
            iseq = record.isCMethod ? try RubyISeq.decodeCMethod(name: record.label)
                : try RubyISeq.decode(RubyISeqCopies(body: record.body, label: record.label, path: record.path,
                                                     lineEntries: record.lineEntries, succinctTable: record.succinctTable),
                                      layout: layout)
        } catch {
            statistics.rubyISeqRecordsMalformed += 1
            rubyLog.log(.warning, "pid \(record.pid), iseq 0x\(String(record.iseq, radix: 16)): \(error); its frames stay unnamed", to: logger)
            return
        }
        let key = RubyISeqKey(iseq: record.iseq, fingerprint: record.fingerprint)
        if !rubyISeqs.insert(iseq, pid: record.pid, key: key, limit: options.maximumRubyISeqs) {
            statistics.rubyISeqRecordsDropped += 1
            reportLimit("max_ruby_iseqs", options.maximumRubyISeqs,
                        "Ruby iseqs (or \(RubyISeqTable.bytesPerISeq) bytes of labels, paths and line tables per iseq on average) over all processes of this stream; frames of further ones stay unnamed")
        }
    }

    /// Names a sample's Ruby frames (leaf first) and merges them into `frames` at `rb_vm_exec`.
    /// `complete`: every frame's iseq record had come (the stack may be cached).
    func mergingRubyFrames(_ ruby: [RubyFrame], pid: Int32, into frames: [Frame], userStart: Int) -> (frames: [Frame], complete: Bool) {
        var named: [Frame] = []
        named.reserveCapacity(ruby.count)
        var complete = true
        for frame in ruby {
            let (one, done) = Self.rubyFrame(frame, iseq: rubyISeqs.iseq(pid: pid, RubyISeqKey(iseq: frame.iseq, fingerprint: frame.fingerprint)))
            if one.functionName != nil { statistics.framesResolved += 1 } else { statistics.framesUnresolved += 1 }
            complete = complete && done
            named.append(one)
        }
        RubyFrameMerge.locateCMethods(&named, cMethods: ruby.map { $0.flags.contains(.cMethod) })
        return (RubyFrameMerge.merge(named, entries: ruby.map { $0.flags.contains(.entry) }, into: frames, userStart: userStart),
                complete)
    }

    private func applyPHPFunction(_ record: PHPFunctionRecord) {
        statistics.phpFunctionRecords += 1
        guard Self.phpLayout(version: record.phpVersion) != nil else {
            statistics.phpFunctionRecordsMalformed += 1
            phpLog.log(.warning, "a function record of PHP \(record.phpVersion >> 8).\(record.phpVersion & 0xff), which has no layout here (pid \(record.pid))", to: logger)
            return
        }
        let function: PHPFunction
        do {
            function = try PHPFunction(type: record.type, flags: PHPFunctionFlags(rawValue: record.flags),
                                       hasName: record.hasName, hasClass: record.hasClass, lineStart: record.lineStart,
                                       name: record.name, className: record.className, file: record.file)
        } catch {
            statistics.phpFunctionRecordsMalformed += 1
            phpLog.log(.warning, "pid \(record.pid), function 0x\(String(record.function, radix: 16)): \(error); its frames stay unnamed", to: logger)
            return
        }
        let key = PHPFunctionKey(function: record.function, fingerprint: record.fingerprint)
        if !phpFunctions.insert(function, pid: record.pid, key: key, limit: options.maximumPHPFunctions) {
            statistics.phpFunctionRecordsDropped += 1
            reportLimit("max_php_functions", options.maximumPHPFunctions,
                        "PHP functions (or \(PHPFunctionTable.bytesPerFunction) bytes of names and files per function on average) over all processes of this stream; frames of further ones stay unnamed")
        }
    }

    private func applyBEAMFunction(_ record: BEAMFunctionRecord) {
        statistics.beamFunctionRecords += 1
        guard Self.beamLayoutExists(ertsMajor: record.ertsMajor) else {
            statistics.beamFunctionRecordsMalformed += 1
            beamLog.log(.warning, "a function record of ERTS \(record.ertsMajor), which has no layout here (pid \(record.pid))", to: logger)
            return
        }
        let function: BEAMFunction
        let lines: BEAMLines?
        do {
            let flags = BEAMFunctionFlags(rawValue: record.flags)
            function = try BEAMFunction(flags: flags, arity: record.arity,
                                        module: record.moduleName, function: record.functionName)
            lines = try BEAMLines(flags: flags, lineAddresses: record.lineAddresses, locationSize: record.locationSize,
                                  locations: record.locations, fileIndex: record.fileIndex, fileName: record.fileName,
                                  module: function.module)
        } catch {
            statistics.beamFunctionRecordsMalformed += 1
            beamLog.log(.warning, "pid \(record.pid), function 0x\(String(record.codeInfo, radix: 16)): \(error); its frames stay unnamed", to: logger)
            return
        }
        if !beamFunctions.insert(BEAMFunctionEntry(name: function.name, lines: lines), pid: record.pid,
                                 codeInfo: record.codeInfo, limit: options.maximumBEAMFunctions) {
            statistics.beamFunctionRecordsDropped += 1
            reportLimit("max_beam_functions", options.maximumBEAMFunctions,
                        "Erlang functions (or \(BEAMFunctionTable.bytesPerFunction) bytes of names and lines per function on average) over all processes of this stream; frames of further ones stay unnamed")
        }
    }

    /// Names a sample's Erlang frames (leaf first) and puts them in place of the native
    /// stack's JIT leaf, or, for a C leaf (the walk starts with its anchor), rootward of the C
    /// frames; `complete` is false when a frame's function record may still come.
    func mergingBEAMFrames(_ walk: [BEAMFrame], pid: Int32, into frames: [Frame], userStart: Int) -> (frames: [Frame], complete: Bool) {
        guard let leaf = walk.first else { return (frames, true) }
        let erlang = leaf.isAnchor ? walk.dropFirst() : walk[...]
        var named: [Frame] = []
        named.reserveCapacity(erlang.count)
        var complete = true
        for (index, frame) in erlang.enumerated() {
            // A JIT leaf's first frame is its pc; every other frame (and every frame below a
            // C leaf) is a return address.
            let function = frame.codeInfo == 0 ? nil : beamFunctions.function(pid: pid, codeInfo: frame.codeInfo)
            let (one, known) = Self.beamFrame(frame, function: function, caller: index > 0 || leaf.isAnchor)
            if one.functionName != nil { statistics.framesResolved += 1 } else { statistics.framesUnresolved += 1 }
            complete = complete && known
            named.append(one)
        }
        if leaf.isAnchor { return (BEAMFrameMerge.mergeBelowC(named, into: frames, userStart: userStart), complete) }
        return (BEAMFrameMerge.merge(named, leafPC: leaf.pc, into: frames, userStart: userStart), complete)
    }

    /// Names a sample's PHP frames (leaf first) and merges them into `frames` at the native
    /// executor loops, in place of JIT code; `complete` is false when a frame's function record may still come.
    func mergingPHPFrames(_ php: [PHPFrame], pid: Int32, into frames: [Frame], userStart: Int) -> (frames: [Frame], complete: Bool) {
        var named: [Frame] = []
        named.reserveCapacity(php.count)
        var complete = true
        for frame in php {
            let (one, known) = Self.phpFrame(frame, function: phpFunctions.function(
                pid: pid, PHPFunctionKey(function: frame.function, fingerprint: frame.fingerprint)))
            if one.functionName != nil { statistics.framesResolved += 1 } else { statistics.framesUnresolved += 1 }
            complete = complete && known
            named.append(one)
        }
        let merged = PHPFrameMerge.merge(named, entries: php.map { $0.flags.contains(.entry) }, into: frames,
                                         userStart: userStart)
        return (merged, complete)
    }

    private func intern(_ path: String) -> String {
        pathNames(path).mappingPath ?? path
    }

    /// The names of a frame in the file at `path` that no symbol names: one instance
    /// (and one copy of the path) for every mapping of it.
    private func pathNames(_ path: String) -> FrameNames {
        if let existing = internedPaths[path] { return existing }
        if internedPaths.count > 100_000 { internedPaths.removeAll() }
        let names = FrameNames(functionName: nil, mappingPath: path, sourceFile: nil)
        internedPaths[path] = names
        return names
    }

    private func unknownComm(_ pid: Int32) -> String { pid == 0 ? "swapper" : "pid \(pid)" }

    /// Lets go of everything the stream made it hold (processes, mappings, loaded files,
    /// kernel symbols, cached stacks), keeping the statistics: for a stream that ended.
    public func removeAll() {
        processes = [:]
        exitedProcesses = []
        exitedHead = 0
        mappingCount = 0
        objectFiles = [:]
        failedFiles = []
        awaitedFiles = [:]
        internedPaths = [:]
        cpythonCodes.removeAll()
        hotspotMethods.removeAll()
        hotspotCodes.removeAll()
        perlSubs.removeAll()
        rubyISeqs.removeAll()
        phpFunctions.removeAll()
        v8Functions.removeAll()
        v8Codes.removeAll()
        v8ScriptLines.removeAll()
        beamFunctions.removeAll()
        lineTableHolders = []
        kernelSymbols = KernelSymbolTable()
        sampleStacks.removeAll()
        namedUserStacks.removeAll()
        namedKernelStacks.removeAll()
    }

    // MARK: Queries

    /// Whether `pid` has a state here (it was not refused at `maximumProcesses`).
    public func holds(pid: Int32) -> Bool { processes[pid] != nil }

    /// The identity of the file `pid` maps at `path` (a frame's `mappingPath`) when its
    /// symbols were read: its GNU build id and file ID; nil for a process no longer held
    /// or a file not read.
    public func fileIdentity(pid: Int32, mappedPath path: String) -> MappedFileIdentity? {
        guard let process = processes[pid] else { return nil }
        for mapping in process.mappings where mapping.path == path {
            if case .loaded(let object) = mapping.object {
                return MappedFileIdentity(
                    gnuBuildID: object.buildID.map(hexString), fileID: object.fileID.map(hexString),
                    segments: object.segments)
            }
        }
        return nil
    }

    /// What the symbolizer holds for the stream, against its limits (`SymbolizerOptions`).
    public var retained: (processes: Int, mappings: Int, kernelSymbols: Int) {
        (processes.count, mappingCount, kernelSymbols.count)
    }

    /// What a `ProcessInfo` record said about `pid`, or nil if none did.
    public func process(_ pid: Int32) -> ProcessIdentity? {
        guard let process = processes[pid], process.identityKnown else { return nil }
        return process.identity
    }

    /// The sample with its frames named, leaf first: kernel frames, then user frames.
    /// Every address gives a frame; one without a symbol keeps its file and offset.
    public func symbolize(_ sample: Sample) -> SymbolizedSample {
        statistics.samples += 1
        now = max(now, sample.time)
        let process = processes[sample.pid]
        let identity: ProcessIdentity
        if let process, process.identityKnown {
            identity = process.identity
        } else {
            if sample.pid != 0 { statistics.unknownProcessSamples += 1 }
            identity = process?.identity ?? ProcessIdentity(pid: sample.pid, comm: unknownComm(sample.pid))
        }
        var frames = frames(of: sample, process: process)
        if sample.offCPUNanoseconds > 0 { frames = Self.withoutTracingFrames(frames) }
        return SymbolizedSample(timestamps: [sample.time], process: identity, threadID: sample.tid, cpu: sample.cpu,
                                frames: frames, userStackTruncated: sample.flags.contains(.userStackTruncated),
                                threadName: sample.threadName, offCPUNanoseconds: sample.offCPUNanoseconds)
    }

    /// An off-CPU sample's kernel stack was taken in the scheduler's tracepoint: above
    /// `__schedule`, where the thread waits, are only the tracepoint's and the BPF
    /// program's own frames (`bpf_trace_run4`, `bpf_prog_…`), which no wait is spent in.
    static func withoutTracingFrames(_ frames: [Frame]) -> [Frame] {
        guard let scheduler = frames.firstIndex(where: { $0.type == .kernel && $0.functionName == "__schedule" }),
              scheduler > 0 else { return frames }
        return Array(frames[scheduler...])
    }

    private func frames(of sample: Sample, process: ProcessState?) -> [Frame] {
        // Both stacks interned (or absent): the pair identifies the frames.
        let interned = (sample.kernelStack.isEmpty || sample.kernelStackID != 0)
            && (sample.userStack.isEmpty || sample.userStackID != 0)
            && (sample.interpreterStack.isEmpty || sample.interpreterStackID != 0)
        // Kernel frames do not depend on the process: a kernel-only stack is one entry for all.
        let userless = sample.userStack.isEmpty && sample.interpreterStack.isEmpty
        let key = SampleStackKey(pid: userless ? 0 : sample.pid, generation: userless ? 0 : process?.generation ?? 0,
                                 kernelStackID: sample.kernelStack.isEmpty ? 0 : sample.kernelStackID,
                                 userStackID: sample.userStack.isEmpty ? 0 : sample.userStackID,
                                 interpreterStackID: sample.interpreterStack.isEmpty ? 0 : sample.interpreterStackID)
        if interned, let cached = sampleStacks[key] {
            statistics.stackCacheHits += 1
            return cached
        }
        // Kernel stacks vary far more than user ones (each system call, fault and interrupt
        // path): a new kernel stack over a known user stack reuses the user part's frames,
        // which are the costly ones, cached under the key without the kernel stack.
        // The pair is cached only when its kernel stack was named before: a kernel stack seen
        // once (most of them, on a busy host) would make the pair an entry never used again,
        // which pushes the user parts out of the cache sooner.
        var userPartKey = key
        userPartKey.kernelStackID = 0
        let splits = interned && !sample.kernelStack.isEmpty && !userless
        if splits, let user = sampleStacks[userPartKey] {
            statistics.stackCacheHits += 1
            var frames: [Frame] = []
            frames.reserveCapacity(sample.kernelStack.count + user.count)
            let kernelKnown = appendKernelFrames(id: sample.kernelStackID, stack: sample.kernelStack, to: &frames)
            frames.append(contentsOf: user)
            if kernelKnown { sampleStacks[key] = frames }
            return frames
        }
        // One exactly sized array (`kernel + user` would grow by doubling, and the
        // cache would keep the slack).
        var frames: [Frame] = []
        frames.reserveCapacity(sample.kernelStack.count + sample.userStack.count)
        var kernelKnown = true
        if !sample.kernelStack.isEmpty {
            kernelKnown = appendKernelFrames(id: sample.kernelStackID, stack: sample.kernelStack, to: &frames)
        }
        let userStart = frames.count
        var cacheable = sample.userStack.isEmpty ? true
            : appendUserFrames(process: process, pid: sample.pid, id: sample.userStackID, stack: sample.userStack, to: &frames)
        if sample.interpreterStackKind == .perl {
            let merged = mergingPerlFrames(sample.perlFrames, pid: sample.pid, into: frames, userStart: userStart)
            frames = merged.frames
            cacheable = cacheable && merged.complete
        } else if sample.interpreterStackKind == .cpython {
            let python = sample.cpythonFrames
            var named: [Frame] = []
            named.reserveCapacity(python.count)
            for frame in python {
                let (named1, complete) = Self.cpythonFrame(
                    frame, code: cpythonCodes.code(pid: sample.pid, CPythonCodeKey(code: frame.code, fingerprint: frame.fingerprint)))
                if named1.functionName != nil { statistics.framesResolved += 1 } else { statistics.framesUnresolved += 1 }
                cacheable = cacheable && complete
                named.append(named1)
            }
            frames = CPythonFrameMerge.merge(named, entries: python.map { $0.flags.contains(.entry) },
                                             into: PerfTrampolines.removed(from: frames, userStart: userStart),
                                             userStart: userStart)
        } else if sample.interpreterStackKind == .hotspot {
            let (java, complete) = namedHotSpotFrames(HotSpotFrame.frames(words: sample.interpreterStack), pid: sample.pid)
            cacheable = cacheable && complete
            frames = HotSpotFrameMerge.merge(java, into: frames, userStart: userStart)
        } else if sample.interpreterStackKind == .php {
            let merged = mergingPHPFrames(sample.phpFrames, pid: sample.pid, into: frames, userStart: userStart)
            frames = merged.frames
            cacheable = cacheable && merged.complete
        } else if sample.interpreterStackKind == .beam {
            let merged = mergingBEAMFrames(sample.beamFrames, pid: sample.pid, into: frames, userStart: userStart)
            frames = merged.frames
            cacheable = cacheable && merged.complete
        } else if sample.interpreterStackKind == .ruby {
            let merged = mergingRubyFrames(RubyFrame.frames(words: sample.interpreterStack), pid: sample.pid, into: frames,
                                           userStart: userStart)
            frames = merged.frames
            cacheable = cacheable && merged.complete
        }
        if sample.interpreterStackKind == .v8 {
            var javaScript: [(pc: UInt64, frames: [Frame])] = []
            for frame in V8Frame.frames(words: sample.interpreterStack) {
                let (named, complete) = v8Frames(frame, pid: sample.pid)
                for one in named {
                    if one.functionName != nil { statistics.framesResolved += 1 } else { statistics.framesUnresolved += 1 }
                }
                cacheable = cacheable && complete
                javaScript.append((frame.pc, named))
            }
            frames = V8FrameMerge.merge(javaScript, into: frames, userStart: userStart)
        }
        if interned, cacheable {
            if !splits || kernelKnown { sampleStacks[key] = frames }
            if splits { sampleStacks[userPartKey] = Array(frames[userStart...]) }
        }
        return frames
    }

    /// The frames one walker frame stands for, innermost first: the functions optimized code
    /// inlined at its pc (from the code's record), then its own function. `complete` is false
    /// while a record that names them may still come.
    private func v8Frames(_ frame: V8Frame, pid: Int32) -> (frames: [Frame], complete: Bool) {
        let function = v8Functions.function(
            pid: pid, V8FunctionKey(sharedFunctionInfo: frame.sharedFunctionInfo, fingerprint: frame.fingerprint))
        var own = Self.v8Frame(frame, function: function)
        let root = options.useProcessRoot ? (processes[pid]?.rootPrefix(pid: pid) ?? "") : ""
        if frame.kind == .interpreted, frame.offset != V8Frame.unknownOffset, let function {
            // The frame's bytecode offset: the call for a caller's frame; for the leaf, the
            // offset the interpreter last saved in the frame (at its last call), so a line of its function.
            let position = function.bytecodePositions.sourcePosition(atCodeOffset: Int(frame.offset))
            own.0.sourceLine = v8ScriptLines.line(root: root, scriptName: function.scriptName,
                                                  scriptOffset: position?.scriptOffset, statistics: &statistics)
        }
        guard frame.kind == .compiled, frame.codeFingerprint != 0, frame.offset != V8Frame.unknownOffset else {
            return ([own.0], own.complete)
        }
        let key = V8CodeKey(instructionStart: frame.pc &- UInt64(frame.offset), fingerprint: frame.codeFingerprint)
        guard let (code, functions) = v8Codes.code(pid: pid, key) else { return ([own.0], false) }
        if let baseline = code.baseline {
            // Sparkplug: V8 asks its table with a return address as is (each piece's end is
            // inclusive); an instruction's own address is one past the previous piece's end.
            let pcOffset = frame.flags.contains(.sampledPC) ? frame.offset &+ 1 : frame.offset
            if let function, let bytecodeOffset = baseline.bytecodeOffset(atPCOffset: pcOffset), bytecodeOffset >= 0 {
                let position = function.bytecodePositions.sourcePosition(atCodeOffset: Int(bytecodeOffset))
                own.0.sourceLine = v8ScriptLines.line(root: root, scriptName: function.scriptName,
                                                      scriptOffset: position?.scriptOffset, statistics: &statistics)
            }
            return ([own.0], own.complete)
        }
        // A return address is past its call: the call's position is the byte before.
        let offset = frame.flags.contains(.sampledPC) || frame.offset == 0 ? frame.offset : frame.offset - 1
        var frames: [Frame] = []
        var complete = own.complete
        let running = code.frames(atCodeOffset: offset)
        for (index, scriptOffset) in running.inlined {
            let inlined = functions[index]
            let inlinedFunction = v8Functions.function(pid: pid, V8FunctionKey(
                sharedFunctionInfo: inlined.sharedFunctionInfo, fingerprint: inlined.fingerprint))
            var named = Self.v8Frame(V8Frame(pc: frame.pc, sharedFunctionInfo: inlined.sharedFunctionInfo,
                                             fingerprint: inlined.fingerprint, offset: V8Frame.unknownOffset,
                                             kind: .compiled, codeKind: frame.codeKind,
                                             flags: inlined.sharedFunctionInfo == 0 ? .functionUnreadable : []),
                                     function: inlinedFunction)
            if let inlinedFunction {
                named.0.sourceLine = v8ScriptLines.line(root: root, scriptName: inlinedFunction.scriptName,
                                                        scriptOffset: scriptOffset, statistics: &statistics)
            }
            frames.append(named.0)
            complete = complete && named.complete
        }
        if let function {
            own.0.sourceLine = v8ScriptLines.line(root: root, scriptName: function.scriptName,
                                                  scriptOffset: running.ownScriptOffset, statistics: &statistics)
        }
        frames.append(own.0)
        return (frames, complete)
    }

    // MARK: Kernel frames

    /// Appends the kernel frames; returns whether this kernel stack was named before.
    private func appendKernelFrames(id: UInt64, stack: [UInt64], to frames: inout [Frame]) -> Bool {
        let namedBefore = id != 0 && namedKernelStacks[id] != nil
        if namedBefore { statistics.stackCacheHits += 1 } else { statistics.stackCacheMisses += 1 }
        for (position, address) in stack.enumerated() {
            // Past the leaf, addresses are return addresses: the call is the byte before.
            let lookup = position == 0 ? address : address &- 1
            let names = kernelSymbols.lookup(lookup)
            if !namedBefore {
                if names.functionName != nil { statistics.framesResolved += 1 } else { statistics.framesUnresolved += 1 }
            }
            frames.append(Frame(type: .kernel, address: address, names: names))
        }
        if id != 0, !namedBefore { namedKernelStacks[id] = true }
        return namedBefore
    }

    // MARK: User frames

    /// Appends the user frames; returns whether they may be cached.
    private func appendUserFrames(process: ProcessState?, pid: Int32, id: UInt64, stack: [UInt64],
                                  to frames: inout [Frame]) -> Bool {
        let key = UserStackKey(pid: pid, generation: process?.generation ?? 0, stackID: id)
        let namedBefore = id != 0 && namedUserStacks[key] != nil
        if namedBefore { statistics.stackCacheHits += 1 } else { statistics.stackCacheMisses += 1 }
        // A stack with a JIT frame not (yet) in the perf map is not cached: the JIT
        // writes its map after the code runs.
        var cacheable = true
        for (position, address) in stack.enumerated() {
            let lookup = position == 0 ? address : address &- 1
            let (frame, complete) = userFrame(process: process, pid: pid, address: address, lookup: lookup)
            if !namedBefore {
                if frame.functionName != nil { statistics.framesResolved += 1 } else { statistics.framesUnresolved += 1 }
                if frame.sourceLine != 0 { statistics.framesWithLines += 1 }
            }
            cacheable = cacheable && complete
            frames.append(frame)
        }
        if id != 0, cacheable, !namedBefore { namedUserStacks[key] = true }
        return cacheable
    }

    /// One user frame; `complete` is false when a later perf map could still name it.
    private func userFrame(process: ProcessState?, pid: Int32, address: UInt64, lookup: UInt64) -> (Frame, complete: Bool) {
        guard let process else { return (Frame(type: .native, address: address), true) }
        guard let mapping = process.mapping(containing: lookup) else {
            return jitFrame(process: process, pid: pid, address: address, lookup: lookup, inMapping: false)
        }
        switch mapping.kind {
        case .anonymous:
            return jitFrame(process: process, pid: pid, address: address, lookup: lookup, inMapping: true)
        case .pseudo:
            return (Frame(type: .native, address: address, names: mapping.names,
                          fileOffset: address &- mapping.mapping.start &+ mapping.mapping.fileOffset), true)
        case .vdso, .file:
            let fileOffset = address &- mapping.mapping.start &+ mapping.mapping.fileOffset
            let lookupOffset = lookup &- mapping.mapping.start &+ mapping.mapping.fileOffset
            let object: ObjectFile
            switch objectFile(for: mapping, process: process, pid: pid) {
            case .loaded(let loaded):
                object = loaded
            case .unavailable:
                return (Frame(type: .native, address: address, names: mapping.names, fileOffset: fileOffset), true)
            case .awaited:
                // Not cached: a later sample may name it with the descriptor.
                return (Frame(type: .native, address: address, names: mapping.names, fileOffset: fileOffset), false)
            }
            let fileType: FrameType = switch object.runtime {
            case .go: .go
            case .rust: .rust
            case .native: .native
            }
            guard let virtualAddress = object.virtualAddress(fileOffset: lookupOffset),
                  let index = object.symbols.index(covering: virtualAddress)
            else {
                return (Frame(type: fileType, address: address, names: mapping.names, fileOffset: fileOffset), true)
            }
            // The line of the same address the name came from (the call, for a return address).
            let source = options.sourceLines ? sourceLocation(in: object, virtualAddress: virtualAddress) : nil
            guard let named = object.symbols.frameNames(at: index, demangling: options.demangle && object.runtime != .go,
                                                        mappingPath: mapping.path, sourceFile: source?.file) else {
                // The file became unreadable after its symbols were loaded: counted, kept as file+offset.
                statistics.unreadableSymbolNames += 1
                return (Frame(type: fileType, address: address, names: mapping.names, fileOffset: fileOffset), true)
            }
            let type: FrameType = named.language == .rust ? .rust : fileType
            return (Frame(type: type, address: address, names: named.names, fileOffset: fileOffset,
                          sourceLine: source?.line ?? 0), true)
        }
    }

    // MARK: Source lines

    /// The source file and line of `virtualAddress` in `object`, reading its line table
    /// on first need. A file whose lines cannot be read is counted and logged once and
    /// gets none (its frames keep their names).
    private func sourceLocation(in object: ObjectFile, virtualAddress: UInt64) -> (file: String, line: UInt32)? {
        if case .pending = object.lines { loadLines(of: object) }
        switch object.lines {
        case .dwarf(let table): return table.location(of: virtualAddress)
        case .go(let table): return table.location(of: virtualAddress)
        case .pending, .unavailable: return nil
        }
    }

    private func loadLines(of object: ObjectFile) {
        object.lines = .unavailable
        guard let file = object.lineSources.first else { return }
        let bytes: Int
        do throws(SourceLineFailure) {
            if object.runtime == .go {
                // Kept as read: bounded as the rows of a DWARF table are.
                let limit = max(0, min(options.maximumLineRows, Int.max / LineTable.bytesPerRow)) * LineTable.bytesPerRow
                guard let table = try GoLineTable.read(from: file, limit: limit) else { return }
                object.lines = .go(table)
                bytes = table.byteCount
            } else {
                let state = try SourceLineReader.read(sources: object.lineSources, maximumRows: options.maximumLineRows)
                guard case .dwarf(let table) = state else { return }
                object.lines = state
                bytes = table.byteCount
            }
        } catch {
            switch error {
            case .malformed: statistics.lineTableFailures += 1
            case .overLimit: statistics.lineTablesOverLimit += 1
            }
            lineLog.log(.notice, "cannot read source lines of \(file.path): \(error); its frames keep their function names, without lines", to: logger)
            return
        }
        statistics.lineTablesLoaded += 1
        lineTableHolders.append((WeakObjectFile(object), bytes))
        evictLineTablesIfNeeded(keeping: object)
        statistics.lineTableBytes = UInt64(lineTableHolders.reduce(0) { $0 + $1.bytes })
    }

    /// Drops the line tables of the least recently used files (and of files no longer
    /// held) until those kept fit in `maximumLineTableBytes`; `object`'s own stays.
    private func evictLineTablesIfNeeded(keeping object: ObjectFile) {
        lineTableHolders.removeAll { $0.object.value == nil }
        var total = lineTableHolders.reduce(0) { $0 + $1.bytes }
        guard total > options.maximumLineTableBytes else { return }
        lineTableHolders.sort { ($0.object.value?.lastUse ?? 0) < ($1.object.value?.lastUse ?? 0) }
        var kept: [(object: WeakObjectFile, bytes: Int)] = []
        for holder in lineTableHolders {
            if total > options.maximumLineTableBytes, let held = holder.object.value, held !== object {
                held.lines = .pending
                total -= holder.bytes
                statistics.lineTablesEvicted += 1
            } else {
                kept.append(holder)
            }
        }
        lineTableHolders = kept
    }

    // MARK: Files

    /// What a mapping's file gave: its symbols, nothing, or nothing yet (a descriptor awaited).
    enum FileLoad {
        case loaded(ObjectFile)
        case unavailable
        case awaited
    }

    /// The loaded ELF file behind a mapping, loading it on first use.
    private func objectFile(for mapping: MappingState, process: ProcessState, pid: Int32) -> FileLoad {
        switch mapping.object {
        case .loaded(let object):
            useTick += 1
            object.lastUse = useTick
            return .loaded(object)
        case .unavailable:
            return .unavailable
        case .unresolved:
            break
        }
        let load: FileLoad
        if mapping.kind == .vdso {
            // Another vDSO (a 32-bit process's) has another size: do not name it with ours.
            load = vdso.flatMap { $0.imageSize == mapping.mapping.end - mapping.mapping.start ? .loaded($0) : nil } ?? .unavailable
        } else {
            load = loadObjectFile(mapping.mapping, path: mapping.path, process: process, pid: pid)
        }
        switch load {
        case .loaded(let object): mapping.object = .loaded(object)
        case .unavailable: mapping.object = .unavailable
        case .awaited: break  // asked again at the next sample
        }
        return load
    }

    private func loadObjectFile(_ mapping: Mapping, path: String, process: ProcessState, pid: Int32) -> FileLoad {
        let key = FileKey(device: mapping.device, inode: mapping.inode, path: mapping.inode == 0 ? path : "")
        if failedFiles.contains(key) { return .unavailable }
        var filePath = path
        if filePath.hasSuffix(" (deleted)") { filePath.removeLast(10) }
        if let refusal = MappedFilePath.refusal(path: filePath, inode: mapping.inode) {
            recordFailure(key: key, path: path, reason: refusal)
            return .unavailable
        }

        let rootPrefix = options.useProcessRoot ? process.rootPrefix(pid: pid) : ""
        var opened: OpenFile?
        var reasons: [String] = []
        if let awaited = awaitedFiles[key] {
            // The paths failed already: only the descriptor can give it.
            reasons = [awaited.reasons]
        } else {
            let candidates = rootPrefix.isEmpty ? [filePath] : [rootPrefix + filePath, filePath]
            // A file read before, unchanged at its path (same inode, size and times): no
            // need to open it and read its build id again (each new process maps its files anew).
            if let cached = objectFiles[key], let stamp = cached.stamp,
               candidates.contains(where: { FileStamp.of(path: $0) == stamp }) {
                statistics.fileCacheHits += 1
                useTick += 1
                cached.lastUse = useTick
                return .loaded(cached)
            }
            for candidate in candidates {
                switch OpenFile.open(candidate) {
                case .success(let file):
                    // The file at this path now may not be the one mapped (upgraded, replaced).
                    if file.inode != mapping.inode {
                        reasons.append("\(candidate): inode \(file.inode) is not the mapped inode \(mapping.inode) (file replaced since it was mapped)")
                        continue
                    }
                    opened = file
                case .failure(let error):
                    reasons.append(error.description)
                }
                if opened != nil { break }
            }
        }
        if opened == nil {
            switch passedFile(for: mapping, key: key, pid: pid, reasons: &reasons) {
            case .open(let file): opened = file
            case .awaited: return .awaited
            case .unavailable: break
            }
        }
        guard let file = opened else {
            recordFailure(key: key, path: path, reason: reasons.joined(separator: "; "))
            return .unavailable
        }

        if let cached = objectFiles[key] {
            // (device, inode) can be reused by a new file: the build id tells.
            if cached.buildID == nil || cached.buildID == ELFReader.buildID(file: file) {
                statistics.fileCacheHits += 1
                cached.stamp = file.stamp
                useTick += 1
                cached.lastUse = useTick
                return .loaded(cached)
            }
        }

        var warnings: [ObjectFileLoader.Warning] = []
        defer {
            for warning in warnings {
                statistics.debugInfoWarnings += 1
                logger.notice("debug information unusable", metadata: ["file": "\(warning.path)", "reason": "\(warning.reason)"])
            }
        }
        do throws(ELFError) {
            let object = try loader.load(file: file, originalPath: filePath, rootPrefix: file.path == filePath ? "" : rootPrefix,
                                         warnings: &warnings)
            statistics.filesLoaded += 1
            object.fileID = FileID.of(file)
            object.stamp = file.stamp
            statistics.filesBySymbolSource[object.symbolSource, default: 0] += 1
            logger.debug("loaded symbols", metadata: [
                "file": "\(path)", "symbols": "\(object.symbols.count)", "source": "\(object.symbolSource.rawValue)",
            ])
            useTick += 1
            object.lastUse = useTick
            objectFiles[key] = object
            evictObjectFilesIfNeeded()
            return .loaded(object)
        } catch {
            recordFailure(key: key, path: path, reason: "\(file.path): \(error.description)")
            return .unavailable
        }
    }

    /// The file the sampler passed for a mapping no path opened (`reasons`), or whether to
    /// wait for it: at most `passedFileWait` of stream time, after which it has failed.
    private func passedFile(for mapping: Mapping, key: FileKey, pid: Int32, reasons: inout [String]) -> PassedFile {
        guard let passedFiles, mapping.inode != 0 else { return .unavailable }
        switch passedFiles.file(for: mapping, pid: pid) {
        case .open(let file):
            awaitedFiles[key] = nil
            guard file.inode == mapping.inode else { return .unavailable }
            statistics.filesFromPassedDescriptors += 1
            return .open(file)
        case .awaited:
            if awaitedFiles[key] == nil, awaitedFiles.count >= Self.maximumAwaitedFiles {
                // Waits of files no sample asked for again (their processes ended) are over.
                awaitedFiles = awaitedFiles.filter { now &- $0.value.since < Self.passedFileWait }
            }
            guard awaitedFiles[key] != nil || awaitedFiles.count < Self.maximumAwaitedFiles else {
                reasons.append("more than \(Self.maximumAwaitedFiles) files wait for a descriptor from the sampler")
                return .unavailable
            }
            let since = awaitedFiles[key]?.since ?? now
            guard now &- since < Self.passedFileWait else {
                awaitedFiles[key] = nil
                reasons.append("no descriptor from the sampler within \(Self.passedFileWait / 1_000_000_000) s")
                return .unavailable
            }
            awaitedFiles[key] = (since, reasons.joined(separator: "; "))
            return .awaited
        case .unavailable:
            awaitedFiles[key] = nil
            return .unavailable
        }
    }

    private func recordFailure(key: FileKey, path: String, reason: String) {
        // Bounded: past the cap, files are retried (and reported) again once.
        if failedFiles.count >= 65536 { failedFiles.removeAll() }
        failedFiles.insert(key)
        statistics.fileFailures += 1
        statistics.recentFileFailures.append(SymbolizationFileFailure(path: path, reason: reason))
        if statistics.recentFileFailures.count > SymbolizerStatistics.recentFailureLimit {
            statistics.recentFileFailures.removeFirst()
        }
        if statistics.fileFailures <= Self.fullyLoggedFailures {
            logger.warning("cannot read symbols; its frames stay file+offset",
                           metadata: ["file": "\(path)", "reason": "\(reason)"])
        } else {
            failureLog.log(.warning, "cannot read symbols of \(path): \(reason); its frames stay file+offset "
                + "(more than \(Self.fullyLoggedFailures) unreadable files in this stream: at most one line per interval)",
                to: logger)
        }
    }

    private func evictObjectFilesIfNeeded() {
        guard objectFiles.count > options.fileCacheCapacity else { return }
        // Drop the least recently used quarter; mappings still holding a file keep it alive.
        let victims = objectFiles.sorted { $0.value.lastUse < $1.value.lastUse }.prefix(max(1, objectFiles.count / 4))
        for (key, _) in victims { objectFiles[key] = nil }
        statistics.filesEvicted += UInt64(victims.count)
    }

    /// The vDSO is the same image in every process of this kernel: read ours.
    private func loadOwnVDSO() -> ObjectFile? {
        let base = tandem_vdso_base()
        guard base != 0, let maps = readTextFile("/proc/self/maps") else { return nil }
        for line in maps.split(separator: "\n") where line.hasSuffix("[vdso]") {
            let range = line.prefix { $0 != " " }.split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
                  start == UInt64(base), end > start, end - start < 1 << 20,
                  let pointer = UnsafeRawPointer(bitPattern: UInt(base))
            else { return nil }
            let image = Array(UnsafeRawBufferPointer(start: pointer, count: Int(end - start)))
            guard let contents = try? ELFReader.read(image: image) else { return nil }
            let object = ObjectFile(buildID: contents.buildID, segments: contents.segments,
                                    symbols: SymbolTable(sets: contents.symbolSets), runtime: .native,
                                    symbolSource: .symbolTable)
            object.imageSize = end - start
            return object
        }
        return nil
    }

    // MARK: JIT frames

    /// Perf maps larger than this are not read.
    static let perfMapLimit = 512 << 20

    /// Counts and logs a perf map that exists but cannot be read, once per process and
    /// reason, at most four (it is looked at again every refresh interval).
    private func notePerfMapFailure(process: ProcessState, path: String, reason: String) {
        guard process.perfMapFailures.count < 4, process.perfMapFailures.insert(reason).inserted else { return }
        statistics.perfMapFailures += 1
        statistics.recentFileFailures.append(SymbolizationFileFailure(path: path, reason: reason))
        if statistics.recentFileFailures.count > SymbolizerStatistics.recentFailureLimit {
            statistics.recentFileFailures.removeFirst()
        }
        logger.warning("cannot read perf map; its JIT frames stay unnamed", metadata: ["file": "\(path)", "reason": "\(reason)"])
    }

    /// A frame in anonymous executable memory (or outside every mapping), named by the
    /// process's perf map if it has one. A miss is final (cacheable) when the process
    /// has no perf map; with a map, the JIT may not have written the entry yet.
    /// Typed by the process's runtime (docs/jit-frames.md): a named frame always, an
    /// unnamed one in anonymous memory when that runtime's JIT owns such memory.
    private func jitFrame(process: ProcessState, pid: Int32, address: UInt64, lookup: UInt64,
                          inMapping: Bool) -> (Frame, complete: Bool) {
        if inMapping || process.perfMap != nil { refreshPerfMap(process: process, pid: pid) }
        let runtime = jitRuntime(of: process)
        if let entry = process.perfMap?.lookup(lookup) {
            return (Frame(type: runtime ?? entry.type, address: address, functionName: entry.name), true)
        }
        var type = FrameType.native
        if inMapping, let runtime, JITRuntime.ownsAnonymousCode(runtime) { type = runtime }
        return (Frame(type: type, address: address), !inMapping || process.perfMap == nil || process.exited)
    }

    /// The process's JIT runtime, decided once per state of its mappings and perf map: from
    /// its files, else from the shapes of its perf map's names.
    private func jitRuntime(of process: ProcessState) -> FrameType? {
        if let decided = process.jitRuntime { return decided.runtime }
        let runtime = JITRuntime.of(executablePath: process.identity.executablePath,
                                    mappedPaths: process.mappings.map(\.path)) ?? process.perfMap?.runtime
        process.jitRuntime = JITRuntimeDecision(runtime: runtime)
        return runtime
    }

    /// (Re)reads the process's perf map when it is new or has grown, at most once per interval.
    private func refreshPerfMap(process: ProcessState, pid: Int32) {
        let now = ContinuousClock.now
        if let last = process.perfMapCheck, now - last < options.perfMapRefreshInterval { return }
        process.perfMapCheck = now
        let root = options.useProcessRoot ? process.rootPrefix(pid: pid) : ""
        var candidates: [String] = []
        if !root.isEmpty {
            candidates.append("\(root)\(options.perfMapDirectory)/perf-\(process.namespacePID(pid: pid)).map")
        }
        candidates.append("\(options.perfMapDirectory)/perf-\(pid).map")
        for path in candidates {
            let file: OpenFile
            switch OpenFile.open(path) {
            case .success(let opened):
                file = opened
            case .failure(.systemCall(let error)) where error.errno == ENOENT || error.errno == ENOTDIR:
                continue  // no perf map: the common case
            case .failure(let error):
                notePerfMapFailure(process: process, path: path, reason: error.description)
                continue
            }
            if file.size == process.perfMapSize, file.modificationTime == process.perfMapModificationTime { return }
            guard let bytes = file.readAll(limit: Self.perfMapLimit) else {
                notePerfMapFailure(process: process, path: path,
                                   reason: "\(path): pread failed or the map is above \(Self.perfMapLimit) bytes")
                continue
            }
            let map = PerfMap(parsing: String(decoding: bytes, as: UTF8.self))
            statistics.perfMapsLoaded += 1
            statistics.perfMapMalformedLines += UInt64(map.malformedLines)
            if map.malformedLines > 0 {
                logger.debug("perf map has malformed lines", metadata: ["file": "\(path)", "lines": "\(map.malformedLines)"])
            }
            process.perfMap = map
            process.jitRuntime = nil
            process.perfMapSize = file.size
            process.perfMapModificationTime = file.modificationTime
            return
        }
    }
}

// MARK: - State

/// A loaded file a bookkeeping list refers to without keeping it alive.
struct WeakObjectFile {
    weak var value: ObjectFile?

    init(_ value: ObjectFile) { self.value = value }
}

/// Identifies a file for the ELF cache: by (device, inode), or by path for a mapping without inode.
struct FileKey: Hashable {
    var device: UInt64
    var inode: UInt64
    var path: String
}

struct SampleStackKey: Hashable {
    var pid: Int32
    var generation: UInt64
    var kernelStackID: UInt64
    var userStackID: UInt64
    /// Interpreter stack ids are unique across runtimes (one interning id space).
    var interpreterStackID: UInt64
}

struct UserStackKey: Hashable {
    var pid: Int32
    var generation: UInt64
    var stackID: UInt64
}

enum MappingKind {
    case file
    /// Anonymous executable memory (JIT code): named by the perf map, if any.
    case anonymous
    case vdso
    /// Other kernel-provided mappings (`[vsyscall]`, `[uprobes]`).
    case pseudo
}

/// A decided JIT runtime of a process, `runtime` nil when nothing told one.
struct JITRuntimeDecision {
    var runtime: FrameType?
}

enum ObjectResolution {
    case unresolved
    case loaded(ObjectFile)
    case unavailable
}

final class MappingState {
    let mapping: Mapping
    let path: String
    /// The names of a frame in this mapping that no symbol names (its path alone).
    let names: FrameNames
    let kind: MappingKind
    var object: ObjectResolution = .unresolved

    init(mapping: Mapping, names: FrameNames) {
        self.mapping = mapping
        self.names = names
        let path = names.mappingPath ?? ""
        self.path = path
        if path.isEmpty || path.hasPrefix("[anon") || path.hasPrefix("/memfd:") || path == "[heap]" || path == "[stack]" {
            kind = .anonymous
        } else if path == "[vdso]" {
            kind = .vdso
        } else if path.hasPrefix("[") {
            kind = .pseudo
        } else {
            kind = .file
        }
    }
}

final class ProcessState {
    var identity: ProcessIdentity
    var identityKnown: Bool
    /// Unique per address space; part of the user-stack cache key.
    var generation: UInt64
    var exited = false
    /// `CLOCK_MONOTONIC` start time from the process record, 0 if unknown: tells a reused pid.
    var startTime: UInt64 = 0
    /// Sorted by start.
    var mappings: [MappingState] = []
    var perfMap: PerfMap?
    var perfMapSize: Int64 = -1
    var perfMapModificationTime = 0
    var perfMapCheck: ContinuousClock.Instant?
    /// Whose JIT code its anonymous memory and perf map hold; nil until decided, and again
    /// after its mappings, identity or perf map change.
    var jitRuntime: JITRuntimeDecision?
    /// Reasons its perf map could not be read, each reported once.
    var perfMapFailures: Set<String> = []
    private var root: String?
    private var nsPID: Int32?

    init(identity: ProcessIdentity, identityKnown: Bool, generation: UInt64) {
        self.identity = identity
        self.identityKnown = identityKnown
        self.generation = generation
    }

    func mapping(containing address: UInt64) -> MappingState? {
        var low = 0
        var high = mappings.count
        while low < high {
            let middle = (low + high) / 2
            if mappings[middle].mapping.start <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0, address < mappings[low - 1].mapping.end else { return nil }
        return mappings[low - 1]
    }

    /// `/proc/PID/root` when we may look through it, else "" (use paths as they are).
    func rootPrefix(pid: Int32) -> String {
        if let root { return root }
        let candidate = "/proc/\(pid)/root"
        let readable = access(candidate + "/", R_OK | X_OK) == 0
        root = readable ? candidate : ""
        return root!
    }

    /// The pid inside the process's own pid namespace (the last `NSpid:` field), which
    /// names its perf map there.
    func namespacePID(pid: Int32) -> Int32 {
        if let nsPID { return nsPID }
        var result = pid
        if let status = readTextFile("/proc/\(pid)/status", limit: 1 << 16) {
            for line in status.split(separator: "\n") where line.hasPrefix("NSpid:") {
                if let last = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last, let value = Int32(last) {
                    result = value
                }
            }
        }
        nsPID = result
        return result
    }
}

/// A bounded cache that approximates LRU with two generations: when the young one
/// fills up it becomes the old one, and the old one is dropped. Hits in the old
/// generation move back to the young one.
struct TwoGenerationCache<Key: Hashable, Value> {
    private let generationCapacity: Int
    private var young: [Key: Value] = [:]
    private var old: [Key: Value] = [:]

    init(capacity: Int) { generationCapacity = max(1, capacity / 2) }

    var count: Int { young.count + old.count }

    subscript(key: Key) -> Value? {
        mutating get {
            if let value = young[key] { return value }
            guard let value = old.removeValue(forKey: key) else { return nil }
            self[key] = value
            return value
        }
        set {
            young[key] = newValue
            if young.count >= generationCapacity {
                old = young
                // Sized for a whole generation: growing by doubling rehashes it each time.
                young = Dictionary(minimumCapacity: generationCapacity)
            }
        }
    }

    mutating func removeAll() {
        young.removeAll()
        old.removeAll()
    }
}

/// Lowercase hex digits of `bytes`.
private func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { byte in
        let hex = String(byte, radix: 16)
        return byte < 16 ? "0" + hex : hex
    }.joined()
}
