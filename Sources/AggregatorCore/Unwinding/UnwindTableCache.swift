import CPythonSymbolization
import CTandemMalloc
import HotSpotSymbolization
import RubySymbolization
import ELF
import Foundation
import Symbolization
import Synchronization
import SystemCalls
import UnwindTableCompiler
import UnwindTableFormat
#if canImport(Glibc)
import Glibc
#endif

/// A file's identity as `/proc/PID/maps` and `fstat` give it.
public struct FileIdentity: Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
}

/// A compiled table, ready to send: its serialized bytes and the segments that
/// turn a mapping's file offset into the table's addresses. The rows are kept in their
/// serialized form only (8 bytes a row against about 40 as `UnwindRow`s): the cache keeps
/// every file's table for the aggregator's life.
public struct CompiledUnwindTable: Sendable {
    public var serialized: [UInt8]
    /// The file's `PT_LOAD` segments (`bias`).
    public var loadSegments: [UnwindTable.LoadSegment]
    /// What the compile counted.
    public var statistics: UnwindTable.Statistics
    /// The separate debug file whose `.debug_frame` was compiled in, if any.
    public var separateDebugFile: String?
    /// Debug files found but not used, and why (wrong build id or CRC, too large, corrupt).
    public var debugFileWarnings: [String] = []
    /// How long the compile waited for a worker, and how long it took (read, parse, compile).
    public var waitedForWorker: Duration = .zero
    public var compileDuration: Duration = .zero
    /// What the same parse of the file found of a CPython interpreter (docs/cpython.md).
    public var cpython: CPythonInterpreterDetection = .notCPython
    /// What the same parse found of a HotSpot JVM (docs/jvm.md): looked for in `libjvm.so` only.
    public var hotspot: HotSpotRuntimeDetection = .notHotSpot
    /// What the same parse found of a Ruby VM (docs/ruby.md).
    public var ruby: RubyInterpreterDetection = .notRuby

    /// `pgoff + (p_vaddr − p_offset) − start` of the segment mapped there: the bias of a
    /// mapping of this file, or nil when its file offset is in no `PT_LOAD` segment.
    public func bias(mappingStart: UInt64, fileOffset: UInt64) -> UInt64? {
        loadSegments.elfAddress(ofMappingAt: fileOffset).map { $0 &- mappingStart }
    }

    /// The table as compiled, read back from its serialized form (inspection, tests).
    public var table: UnwindTable {
        get throws(UnwindTableError) {
            var table = try UnwindTable(serialized: serialized)
            table.statistics = statistics
            return table
        }
    }
}

/// Unwind tables compiled once per file (device, inode) and shared by every
/// connection. Failures are remembered too, so a file that cannot be read or
/// compiled costs one attempt.
///
/// It also keeps the files the sampler passed (descriptors of files no path opens here):
/// the one place they are held, compiled from here and read by the connections'
/// symbolizers (`passedFile(_:)`), so that a file asked for once serves both.
public final class UnwindTableCache: Sendable {
    public enum Entry: Sendable {
        case compiled(CompiledUnwindTable)
        case failed(String)
        /// No path leads this process to the file (permission, or another mount namespace
        /// where the host's path names another file): the sampler can pass a descriptor
        /// (`compile(identity:descriptor:)`).
        case unreadable(String)
        /// Being compiled in the background; ask again later.
        case pending
    }

    public struct Statistics: Hashable, Sendable {
        public var compiled = 0
        public var failed = 0
        /// Files no path opened for: candidates for a descriptor from the sampler.
        public var unreadable = 0
        /// Files compiled from a descriptor the sampler passed.
        public var compiledFromDescriptors = 0
        public var serializedBytes = 0
        /// Tables that include a separate debug file's `.debug_frame`.
        public var separateDebugFilesUsed = 0
        /// Debug files found but not used (each candidate counted).
        public var debugFileWarnings = 0
    }

    /// Files larger than this are not read.
    public let maximumFileSize: Int
    /// Where separate debug files are looked for (build id, `.gnu_debuglink`).
    public let debugFiles: DebugFileLocator
    /// Separate debug files larger than this are not used (only their `.debug_frame` is
    /// read, but a `.gnu_debuglink` check reads the whole file for its CRC).
    public let maximumDebugFileSize: Int
    private let state = Mutex<(entries: [FileIdentity: Entry], statistics: Statistics)>(([:], Statistics()))
    /// Most passed files held. Each is a descriptor, and a host's containers can map more
    /// files than that: past it the least recently used one is let go (closed, unless a
    /// symbolizer still reads its symbol names from it), and asked for again if needed.
    public let maximumPassedFiles: Int
    private let passed = Mutex<(files: [FileIdentity: (file: OpenFile, lastUse: UInt64)], tick: UInt64)>(([:], 0))

    /// The cache of the aggregator process, shared by its connections.
    public static let shared = UnwindTableCache()

    /// Where files are read and compiled, off the connections' decode threads: a
    /// large binary takes tens of milliseconds (hundreds in a debug build).
    /// Files waiting to be compiled, and how many compiles are queued or running.
    private let work = NSCondition()
    nonisolated(unsafe) private var queued = CompileQueue<CompileJob>()
    nonisolated(unsafe) private var largeJobsRunning = 0
    nonisolated(unsafe) private var unfinished = 0
    nonisolated(unsafe) private var workersStarted = 0
    /// Two workers, so that a small file is not stuck behind a huge one. Plain threads
    /// rather than Dispatch: Dispatch's workers call setpriority(2), which the
    /// aggregator's unit forbids (SystemCallFilter=~@resources).
    private static let workerCount = 2
    /// Compiles of mappings at least this long run one at a time: the other worker stays
    /// free for small files. On the loaded 2-CPU development host a debug build compiles
    /// libc (1.8 MiB of code) in 76 ms, libswiftCore (9.5 MiB) in 0.3 s and swift-build
    /// (250 MiB) in 4.2 s; with 16 MiB here a Go program's table still waited 2.1 s for
    /// a worker behind files just below it.
    static let largeCompileBytes = 4 << 20

    /// A compile waiting for a worker (`CompileQueue` orders them: the file the most
    /// samples wait for first, so that the processes on the CPU are walked whole soonest;
    /// then the smallest, so that a new process's small executable, a Go program of 400 KiB,
    /// is not held back by the compilers' tables queued before it).
    private struct CompileJob {
        var enqueued: ContinuousClock.Instant
        var run: (_ waited: Duration) -> Void
    }

    public init(maximumFileSize: Int = 256 << 20, debugFiles: DebugFileLocator = DebugFileLocator(),
                maximumDebugFileSize: Int = 512 << 20, maximumPassedFiles: Int = 128) {
        self.maximumFileSize = maximumFileSize
        self.maximumPassedFiles = max(1, maximumPassedFiles)
        self.debugFiles = debugFiles
        self.maximumDebugFileSize = maximumDebugFileSize
    }

    /// The table of `identity` if it is known; otherwise `.pending`, with a compile
    /// scheduled in the background (once per file). `size` (the length of the mapping
    /// that needs it) orders the compiles: smaller first.
    public func tableOrSchedule(for identity: FileIdentity, paths: [String], size: Int) -> Entry {
        let scheduled = state.withLock { state -> Entry? in
            if let known = state.entries[identity] { return known }
            state.entries[identity] = .pending
            return nil
        }
        if let scheduled { return scheduled }
        enqueue(identity: identity, size: size) { [self] waited in
            let started = ContinuousClock.now
            var entry = compile(identity: identity, paths: paths)
            entry.noteTiming(waited: waited, compiled: ContinuousClock.now - started)
            record(entry, for: identity)
        }
        return .pending
    }

    /// Keeps `file`, the file `identity` as the sampler passed it (checked by the caller),
    /// for compiling and symbolization; the least recently used one goes past `maximumPassedFiles`.
    public func keepPassedFile(_ file: OpenFile, identity: FileIdentity) {
        passed.withLock { passed in
            passed.tick += 1
            passed.files[identity] = (file, passed.tick)
            guard passed.files.count > maximumPassedFiles,
                  let oldest = passed.files.min(by: { $0.value.lastUse < $1.value.lastUse })?.key else { return }
            passed.files.removeValue(forKey: oldest)
        }
    }

    /// The file `identity` if the sampler passed it and it is still held.
    public func passedFile(_ identity: FileIdentity) -> OpenFile? {
        passed.withLock { passed in
            guard let held = passed.files[identity] else { return nil }
            passed.tick += 1
            passed.files[identity]?.lastUse = passed.tick
            return held.file
        }
    }

    /// Passed files held now.
    public var passedFileCount: Int { passed.withLock { $0.files.count } }

    /// Compiles the table of `identity` from `file`, the file the sampler passed (kept with
    /// `keepPassedFile`), in the background (ordered by `size`, as `tableOrSchedule`).
    /// Returns false when the entry is already compiled, failed for another reason than
    /// access, or being compiled.
    @discardableResult
    public func compile(identity: FileIdentity, passedFile file: OpenFile, size: Int) -> Bool {
        let accepted = state.withLock { state -> Bool in
            switch state.entries[identity] {
            case .unreadable?, nil:
                state.entries[identity] = .pending
                return true
            default:
                return false
            }
        }
        guard accepted else { return false }
        let limit = maximumFileSize
        enqueue(identity: identity, size: size) { [self] waited in
            let started = ContinuousClock.now
            var entry: Entry
            switch Self.check(file, identity: identity, limit: limit) {
            case .failure(let failure):
                entry = .failed(failure.description)
            case .success:
                // As a file opened by path: its compressed .debug_frame, a separate debug
                // file, and the CPython interpreter in it.
                entry = compile(file: file)
            }
            entry.noteTiming(waited: waited, compiled: ContinuousClock.now - started)
            if case .compiled = entry { state.withLock { $0.statistics.compiledFromDescriptors += 1 } }
            record(entry, for: identity)
        }
        return true
    }

    /// Waits until every background compile scheduled so far is done (tests, benchmarks).
    public func waitForPendingCompiles() {
        work.lock()
        while unfinished > 0 { work.wait() }
        work.unlock()
    }

    /// A sample of a process that waits for the tables of `identities`: their compiles move
    /// up the queue (a file already compiling or compiled is not counted). One lock a sample.
    public func noteDemand(for identities: [FileIdentity]) {
        work.lock()
        for identity in identities { queued.noteDemand(for: identity) }
        work.unlock()
    }

    private func enqueue(identity: FileIdentity, size: Int, _ job: @escaping (_ waited: Duration) -> Void) {
        work.lock()
        queued.append(CompileJob(enqueued: .now, run: job), identity: identity, size: size,
                      isLarge: size >= Self.largeCompileBytes)
        unfinished += 1
        if workersStarted < Self.workerCount {
            startWorkers()
        }
        let noWorker = workersStarted == 0
        work.broadcast()
        work.unlock()
        // No thread could be made (`TasksMax=`): compile on the caller's thread rather
        // than leave the job queued for a worker that never comes.
        if noWorker { runQueuedJobs() }
    }

    /// Starts the workers not running yet; called with `work` locked. A thread the kernel
    /// refuses is tried again with the next job; meanwhile the jobs run on the caller's.
    private func startWorkers() {
        while workersStarted < Self.workerCount {
            guard (try? DetachedThread.start(name: "tandem-unwind-\(workersStarted)", { [self] in runWorker() })) != nil
            else { return }
            workersStarted += 1
        }
    }

    /// Runs the queued jobs on the calling thread.
    private func runQueuedJobs() {
        while true {
            work.lock()
            guard let job = queued.takeFirst() else {
                work.unlock()
                return
            }
            if job.isLarge { largeJobsRunning += 1 }
            work.unlock()
            finish(job)
        }
    }

    /// Runs `job` (taken off the queue, counted in `largeJobsRunning` if large) and
    /// counts it done.
    private func finish(_ job: CompileQueue<CompileJob>.Entry) {
        job.job.run(ContinuousClock.now - job.job.enqueued)
        // A large compile's sections and rows are freed here: glibc keeps what a worker
        // thread frees in that thread's arena, so without a trim the aggregator stays as
        // large as the largest compiles it ran at once.
        if job.isLarge { _ = malloc_trim(0) }
        work.lock()
        if job.isLarge { largeJobsRunning -= 1 }
        unfinished -= 1
        work.broadcast()
        work.unlock()
    }

    /// A worker's loop; the workers live as long as the process (the cache is shared).
    private func runWorker() {
        while true {
            work.lock()
            var next = queued.takeNext(largeJobRunning: largeJobsRunning > 0)
            while next == nil {
                work.wait()
                next = queued.takeNext(largeJobRunning: largeJobsRunning > 0)
            }
            guard let job = next else { continue }
            if job.isLarge { largeJobsRunning += 1 }
            work.unlock()
            finish(job)
        }
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// The table of `identity`, compiled from the first of `paths` that opens and is
    /// that file (checked with `fstat`), or the reason there is none.
    public func table(for identity: FileIdentity, paths: [String]) -> Entry {
        if let known = state.withLock({ $0.entries[identity] }), !known.isPending { return known }
        let entry = compile(identity: identity, paths: paths)
        record(entry, for: identity)
        return entry
    }

    private func record(_ entry: Entry, for identity: FileIdentity) {
        state.withLock {
            $0.entries[identity] = entry
            switch entry {
            case .compiled(let table):
                $0.statistics.compiled += 1
                $0.statistics.serializedBytes += table.serialized.count
                if table.separateDebugFile != nil { $0.statistics.separateDebugFilesUsed += 1 }
                $0.statistics.debugFileWarnings += table.debugFileWarnings.count
            case .failed:
                $0.statistics.failed += 1
            case .unreadable:
                $0.statistics.unreadable += 1
            case .pending:
                break
            }
        }
    }

    private func compile(identity: FileIdentity, paths: [String]) -> Entry {
        var reasons: [String] = []
        var onlyAccessFailures = !paths.isEmpty
        for path in paths {
            switch Self.openFile(path, identity: identity, limit: maximumFileSize) {
            case .failure(let failure):
                reasons.append(failure.description)
                onlyAccessFailures = onlyAccessFailures && failure.isAccessFailure
            case .success(let file):
                return compile(file: file)
            }
        }
        let reason = reasons.joined(separator: "; ")
        return onlyAccessFailures ? .unreadable(reason) : .failed(reason)
    }

    /// Compiles the table of `file` (read with `pread`: its headers, the sections compiled,
    /// the symbols interpreter detection looks up; never the whole file), with the
    /// `.debug_frame` of its separate debug file when it has none itself. One open and one
    /// parse of the file serve both: the headers that lead to the debug file are those
    /// compiled. A debug file that cannot be found, read or compiled never fails the table:
    /// it becomes a warning.
    private func compile(file: OpenFile) -> Entry {
        let path = file.path
        let decompressor = ELFSectionDecompressor()
        var warnings: [DebugFileWarning] = []
        var debugFile: DebugFrameFile?
        // A file the reader refuses is compiled from its source below, which reports why.
        let elf = try? ELFFile(source: file)
        if let elf, elf.section(named: ".debug_frame") == nil {
            let (rootPrefix, originalPath) = Self.splitProcessRoot(path)
            debugFile = debugFiles.debugFrameFile(for: file, elf: elf, originalPath: originalPath, rootPrefix: rootPrefix,
                                                  sizeLimit: maximumDebugFileSize, logger: nil, warnings: &warnings)
        }
        var warningTexts = warnings.map { "\($0.path): \($0.reason)" }
        do {
            let debugFrame = debugFile.map {
                SeparateDebugFrame(contents: $0.contents, address: $0.address, isCompressed: $0.isCompressed)
            }
            let table: UnwindTable
            if let elf {
                table = try UnwindTable.compile(elf: elf, separateDebugFrame: debugFrame, decompressor: decompressor)
            } else {
                table = try UnwindTable.compile(source: file, separateDebugFrame: debugFrame, decompressor: decompressor)
            }
            var usedDebugFile = debugFile.map { "\($0.path) (by \($0.lookup.rawValue))" }
            if let debugFile, let error = table.statistics.separateDebugFileError {
                warningTexts.append("\(debugFile.path): \(error)")
                usedDebugFile = nil
            }
            // The interpreter's symbols come from the same parse: no second read of the file.
            let cpython = elf.flatMap { try? CPythonInterpreter.detect(in: $0) } ?? .notCPython
            let hotspot = path.hasSuffix("/libjvm.so") ? elf.flatMap { try? HotSpotRuntime.detect(in: $0) } ?? .notHotSpot
                                                       : .notHotSpot
            let ruby = elf.flatMap { try? RubyInterpreter.detect(in: $0) } ?? .notRuby
            return .compiled(CompiledUnwindTable(serialized: table.serialized(), loadSegments: table.loadSegments,
                                                 statistics: table.statistics,
                                                 separateDebugFile: usedDebugFile, debugFileWarnings: warningTexts,
                                                 cpython: cpython, hotspot: hotspot, ruby: ruby))
        } catch {
            let debugPath = error.file == .separateDebugFile ? " (debug file \(debugFile?.path ?? "?"))" : ""
            return .failed((["\(path)\(debugPath): \(error)"] + warningTexts).joined(separator: "; "))
        }
    }

    /// `/proc/PID/root/usr/bin/x` → (`/proc/PID/root`, `/usr/bin/x`); any other path → ("", path).
    static func splitProcessRoot(_ path: String) -> (rootPrefix: String, path: String) {
        let parts = path.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, parts[1] == "proc", !parts[2].isEmpty, parts[2].allSatisfy(\.isNumber),
              parts[3].hasPrefix("root/") else { return ("", path) }
        return ("/proc/\(parts[2])/root", String(parts[3].dropFirst("root".count)))
    }

    /// `path` opened (with `OpenFile.open`: without blocking, regular files only), if it is
    /// the file `identity` names, of at most `limit` bytes (`check`). Nothing is read yet:
    /// the ELF reader reads what it needs with `pread`.
    static func openFile(_ path: String, identity: FileIdentity, limit: Int) -> Result<OpenFile, FileReadFailure> {
        switch OpenFile.open(path) {
        case .failure(let error): .failure(.notOpened(error))
        case .success(let file): check(file, identity: identity, limit: limit)
        }
    }

    /// `file` if `fstat` shows the regular file `identity` names, of at most `limit` bytes.
    static func check(_ file: OpenFile, identity: FileIdentity, limit: Int) -> Result<OpenFile, FileReadFailure> {
        FileReadFailure.check(file.fileDescriptor, name: file.path, identity: identity, limit: limit).map { _ in file }
    }
}

extension UnwindTableCache.Entry {
    var isPending: Bool {
        if case .pending = self { true } else { false }
    }

    /// Keeps the compile's timing with a compiled table (logged when it is first sent).
    mutating func noteTiming(waited: Duration, compiled: Duration) {
        guard case .compiled(var table) = self else { return }
        table.waitedForWorker = waited
        table.compileDuration = compiled
        self = .compiled(table)
    }
}
