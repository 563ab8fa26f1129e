import Foundation
import Profiles

/// A document that is written once: its index's kind and its `_id`.
struct WriteOnceID: Hashable, Sendable {
    enum Kind: Hashable, Sendable, CaseIterable {
        case stackTrace, stackFrame, executable, leafFrameQueue, executableQueue
        /// A `profiling-hosts` document, by `host.id`: written again when due (``HostDocuments``).
        case host
    }

    var kind: Kind
    var id: String
}

/// How many accepted ids of each kind the exporter remembers (about 100 bytes each).
/// Past that the least recently used is forgotten and its document written again when
/// next seen: a bound on memory, never a loss.
struct WriteOnceCapacities: Sendable, Hashable {
    var stackTraces = 65_536
    var stackFrames = 131_072
    var executables = 4_096
    var leafFrameQueue = 16_384
    var executableQueue = 4_096
    /// Hosts whose last document is remembered (about 200 bytes each): an aggregator
    /// serves one host, so this only bounds hostile input.
    var hosts = 1_024

    func capacity(of kind: WriteOnceID.Kind) -> Int {
        switch kind {
        case .stackTrace: stackTraces
        case .stackFrame: stackFrames
        case .executable: executables
        case .leafFrameQueue: leafFrameQueue
        case .executableQueue: executableQueue
        case .host: hosts
        }
    }
}

/// A seedable generator (SplitMix64) for downsampling: a fixed seed keeps the
/// downsampled indices reproducible, as upstream's fixed seed does.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// Turns a ``ProfilesBatch`` into the documents of Elastic's Universal Profiling
/// indices, in the shapes and with the ids of the Collector's Elasticsearch exporter
/// (`serializeprofiles`), from frames tandem has already symbolized:
///
/// - one event per sample timestamp in `profiling-events-all`, and in
///   `profiling-events-5pow01`... while its downsampled count stays above zero;
/// - a stack trace, its frames (named ones only) and the executables, each written once;
/// - the symbolization queues, only for frames tandem could not name;
/// - a `profiling-hosts` document for the batch's host when one is due (``HostDocuments``).
///
/// Write-once ids are remembered only once Elasticsearch accepted them (``settled(_:accepted:)``),
/// so a document that was dropped or refused is written again with a later batch. While
/// a document is on its way it is pending, and later batches do not repeat it; a pending
/// id is given up after `pendingLifetime` (its request was dropped without a word, or
/// still waits in the queue), so that the worst case is a repeat, never a loss.
///
/// The write-once sets and the generator are guarded by `lock` (batches are encoded on
/// the caller's thread, acceptances come from the export thread): that makes the
/// `@unchecked Sendable` sound.
final class UniversalProfilingDocuments: @unchecked Sendable {
    static let ecsVersion = "1.12.0"
    static let allEventsIndex = "profiling-events-all"
    static let downsampledEventIndices = (1...11).map { "profiling-events-5pow" + ($0 < 10 ? "0\($0)" : "\($0)") }
    static let stackTracesIndex = "profiling-stacktraces"
    static let stackFramesIndex = "profiling-stackframes"
    static let executablesIndex = "profiling-executables"
    static let executableQueueIndex = "profiling-sq-executables"
    static let leafFrameQueueIndex = "profiling-sq-leafframes"
    static let hostsIndex = "profiling-hosts"
    /// The file ID `libpf` gives kernel frames whose image has no known build id.
    static let unknownKernelFileID = UniversalProfiling.FileID(high: .max - 2, low: .max - 2)

    /// Creates the executable document if missing, else moves its `@timestamp` to this week.
    static let executableUpsertScript = """
        if (ctx.op == 'create') { ctx._source['@timestamp'] = params.timestamp; \
        ctx._source['Executable.build.id'] = params.buildid; ctx._source['Executable.file.name'] = params.filename; \
        ctx._source['ecs.version'] = params['ecs.version']; } \
        else if (ctx._source['@timestamp'] == params.timestamp) { ctx.op = 'noop'; } \
        else { ctx._source['@timestamp'] = params.timestamp; }
        """

    private let lock = NSLock()
    // Guarded by `lock`.
    private var written: [WriteOnceID.Kind: RecentlyWrittenSet<String>] = [:]
    /// Documents sent and not yet settled, with when to stop waiting for them.
    private var pending: [WriteOnceID: ContinuousClock.Instant] = [:]
    private var random: SplitMix64
    private var hosts: HostDocuments
    private let pendingLifetime: Duration
    /// At most as many pending ids as all the write-once sets hold.
    private let pendingCapacity: Int
    /// The wall clock in Unix seconds, for executables' last-seen week and queue times.
    private let now: @Sendable () -> UInt64

    init(capacities: WriteOnceCapacities = WriteOnceCapacities(), seed: UInt64 = 0,
         pendingLifetime: Duration = .seconds(330), hostRefreshSeconds: UInt64 = HostDocuments.refreshSeconds,
         now: @escaping @Sendable () -> UInt64 = { UInt64(max(0, Date().timeIntervalSince1970)) }) {
        for kind in WriteOnceID.Kind.allCases where kind != .host {
            written[kind] = RecentlyWrittenSet(capacity: capacities.capacity(of: kind))
        }
        hosts = HostDocuments(capacity: capacities.hosts, refreshSeconds: hostRefreshSeconds)
        random = SplitMix64(seed: seed)
        self.pendingLifetime = pendingLifetime
        pendingCapacity = WriteOnceID.Kind.allCases.reduce(0) { $0 + capacities.capacity(of: $1) }
        self.now = now
    }

    /// A write-once document was accepted (remembered) or refused for good (to be written again).
    func settled(_ item: BulkItem, accepted: Bool) {
        guard let id = item.writeOnce else { return }
        lock.withLock {
            pending[id] = nil
            if id.kind == .host {
                hosts.settled(hostID: id.id, accepted: accepted)
            } else if accepted {
                written[id.kind]?.insert(id.id)
            }
        }
    }

    /// How many accepted ids of `kind` are remembered.
    func rememberedCount(_ kind: WriteOnceID.Kind) -> Int {
        lock.withLock { kind == .host ? hosts.writtenCount : written[kind]?.count ?? 0 }
    }

    /// A frame as the indices see it.
    private struct IndexedFrame {
        var id: UniversalProfiling.FrameID
        var type: UInt8
        var named: Bool
        var frame: Frame?
    }

    func items(for batch: ProfilesBatch) -> [BulkItem] {
        var items: [BulkItem] = []
        var inBatch = Set<WriteOnceID>()
        let seconds = now()
        let frequency = batch.samplesPerSecond
        let instant = ContinuousClock.now
        lock.lock()
        defer { lock.unlock() }
        if pending.count >= pendingCapacity { pending = pending.filter { $0.value > instant } }
        do {
            func writeOnce(_ kind: WriteOnceID.Kind, _ id: String, index: String, action: String = "index",
                           document: () -> [UInt8]) {
                let key = WriteOnceID(kind: kind, id: id)
                guard !inBatch.contains(key), written[kind]?.contains(id) != true else { return }
                if let until = pending[key], until > instant { return }
                inBatch.insert(key)
                // Past the bound, a document is sent without being marked: it may repeat.
                if pending.count < pendingCapacity || pending[key] != nil { pending[key] = instant + pendingLifetime }
                items.append(BulkItem(index: index, action: Self.action(action, index: index, id: id),
                                      document: document(), writeOnce: key))
            }

            // The symbolizer hands out one frames array per cached stack and the batch keeps
            // them alive while this runs: an array's storage identifies its stack, whose
            // ids and write-once documents are then worked out once per batch.
            struct StackKey: Hashable {
                var storage: UInt
                var truncated: Bool
            }
            var traceByStack: [StackKey: String] = [:]
            // The event's fields but its time, per stack, process and thread name.
            struct EventKey: Hashable {
                var stack: StackKey
                var pid: Int32
                var threadName: String
            }
            var eventPrefixes: [EventKey: (process: ProcessIdentity, prefix: [UInt8])] = [:]
            var clock = EventClock()
            for sample in batch.samples {
                let storage = sample.frames.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
                let stackKey = StackKey(storage: storage, truncated: sample.userStackTruncated)
                let traceID: String
                if storage != 0, let known = traceByStack[stackKey] {
                    traceID = known
                } else {
                    guard let described = describeStack(of: sample) else { continue }
                    traceID = described
                    if storage != 0 { traceByStack[stackKey] = traceID }
                }
                let eventKey = EventKey(stack: stackKey, pid: sample.process.pid, threadName: sample.threadName)
                let prefix: [UInt8]
                if storage != 0, let cached = eventPrefixes[eventKey], cached.process == sample.process {
                    prefix = cached.prefix
                } else {
                    prefix = Self.eventPrefix(sample: sample, batch: batch, traceID: traceID, frequency: frequency)
                    if storage != 0 { eventPrefixes[eventKey] = (sample.process, prefix) }
                }
                for timestamp in sample.timestamps.isEmpty ? [batch.endUnixNano] : sample.timestamps {
                    var document = prefix
                    clock.appendTimestamp(unixNanoseconds: timestamp, to: &document)
                    items.append(BulkItem(index: Self.allEventsIndex, action: Self.eventActions[0], document: document))
                    // Each event (count 1) goes on to the next level with probability 1/5.
                    for (level, index) in Self.downsampledEventIndices.enumerated() {
                        guard random.next() % 5 == 0 else { break }
                        items.append(BulkItem(index: index, action: Self.eventActions[level + 1], document: document))
                    }
                }
            }

            /// The stack trace id of `sample`, after queueing its write-once documents; nil
            /// for a sample without frames (which upstream does not index either).
            func describeStack(of sample: SymbolizedSample) -> String? {
                let frames = Self.indexedFrames(of: sample, identities: batch.fileIdentities)
                guard !frames.isEmpty else { return nil }
                let traceID = UniversalProfiling.base64URL(UniversalProfiling.stackTraceID(leafFirst: frames.map(\.id)))
                writeOnce(.stackTrace, traceID, index: Self.stackTracesIndex) {
                    Self.stackTraceDocument(rootFirst: frames.reversed())
                }
                for frame in frames where frame.named {
                    writeOnce(.stackFrame, frame.id.base64URL, index: Self.stackFramesIndex) {
                        Self.stackFrameDocument(frame.frame!)
                    }
                }
                for (position, frame) in frames.enumerated() where !frame.named && frame.type & UniversalProfiling.errorFlag == 0 {
                    if position == 0 {
                        writeOnce(.leafFrameQueue, frame.id.base64URL, index: Self.leafFrameQueueIndex) {
                            Self.queueDocument(field: "Stacktrace.frame.id", id: frame.id.base64URL, seconds: seconds)
                        }
                    }
                    let fileID = frame.id.file.base64URL
                    writeOnce(.executableQueue, fileID, index: Self.executableQueueIndex) {
                        Self.queueDocument(field: "Executable.file.id", id: fileID, seconds: seconds)
                    }
                }
                return traceID
            }
            if let hostID = batch.hostID, !hostID.isEmpty {
                let key = WriteOnceID(kind: .host, id: hostID)
                let inFlight = (pending[key].map { $0 > instant } ?? false)
                let facts = HostDocuments.Facts(hostName: batch.hostName, host: batch.host,
                                                samplesPerSecond: batch.samplesPerSecond)
                // The batch's own time: Kibana looks for the host in the time of its samples.
                let batchSeconds = batch.endUnixNano / 1_000_000_000
                if hosts.isDue(hostID: hostID, facts: facts, seconds: batchSeconds, inFlight: inFlight) {
                    hosts.sending(hostID: hostID, facts: facts, seconds: batchSeconds)
                    if pending.count < pendingCapacity || pending[key] != nil { pending[key] = instant + pendingLifetime }
                    items.append(BulkItem(index: Self.hostsIndex, action: Self.hostAction,
                                          document: HostDocuments.document(hostID: hostID, facts: facts,
                                                                           seconds: batchSeconds),
                                          writeOnce: key))
                }
            }
            for (path, identity) in batch.fileIdentities.sorted(by: { $0.key < $1.key }) {
                guard let hex = identity.fileID, let fileID = UniversalProfiling.FileID(hex: hex) else { continue }
                let id = fileID.base64URL
                let name = path.split(separator: "/").last.map(String.init) ?? path
                writeOnce(.executable, id, index: Self.executablesIndex, action: "update") {
                    Self.executableDocument(id: id, fileName: name, week: Self.startOfWeek(seconds))
                }
            }
        }
        return items
    }

    // MARK: Frames

    /// The frames of `sample` leaf first, with the ids `libpf` gives them; a root
    /// marker (an aborted-unwind error frame) when the user stack was cut short.
    private static func indexedFrames(of sample: SymbolizedSample, identities: [String: MappedFileIdentity]) -> [IndexedFrame] {
        var frames: [IndexedFrame] = []
        frames.reserveCapacity(sample.frames.count + 1)
        // The first user frame is where the CPU was; the others are return addresses.
        var userLeafSeen = false
        for frame in sample.frames {
            let isReturnAddress = frame.type != .kernel && userLeafSeen
            if frame.type != .kernel { userLeafSeen = true }
            let id = frameID(of: frame, isReturnAddress: isReturnAddress, identities: identities)
            frames.append(IndexedFrame(id: id, type: UniversalProfiling.frameTypeByte(frame.type),
                                       named: frame.functionName != nil || frame.interpretedSourceFile != nil,
                                       frame: frame))
        }
        if sample.userStackTruncated {
            frames.append(IndexedFrame(id: UniversalProfiling.FrameID(file: .withoutFile, addressOrLine: 0),
                                       type: UniversalProfiling.errorFlag, named: false, frame: nil))
        }
        return frames
    }

    /// A frame's ID as `libpf` and the Collector's exporter make it:
    /// - native code: the file ID of its ELF file and its link-time address, less one for
    ///   a return address (so that it falls in the call);
    /// - kernel code: FNV-128a of the image's build id when known, and the address less one;
    /// - interpreted code (Python): a hash of the function, file and line, and the line.
    static func frameID(of frame: Frame, isReturnAddress: Bool,
                        identities: [String: MappedFileIdentity]) -> UniversalProfiling.FrameID {
        if frame.type == .kernel {
            let buildID = identities[frame.mappingPath ?? "vmlinux"]?.gnuBuildID
            let file = buildID.map { UniversalProfiling.FileID(kernelBuildID: $0) } ?? unknownKernelFileID
            return .init(file: file, addressOrLine: frame.address &- 1)
        }
        // Machine code with a source line (DWARF, Go) keeps its file's id and address.
        if let sourceFile = frame.interpretedSourceFile {
            let line = UInt64(frame.sourceLine)
            return .init(file: .init(interpretedFunction: frame.functionName ?? "", file: indexedSourceFile(sourceFile),
                                     line: Int64(line)),
                         addressOrLine: line)
        }
        if frame.type == .cpython || frame.type == .perl {
            // A Python or Perl frame whose code was never named: no file, no line.
            return .init(file: .withoutFile, addressOrLine: 0)
        }
        let identity = frame.mappingPath.flatMap { identities[$0] }
        var address = frame.address
        if let offset = frame.fileOffset {
            address = identity?.virtualAddress(fileOffset: offset) ?? offset
        }
        if isReturnAddress { address &-= 1 }
        let file: UniversalProfiling.FileID
        if let hex = identity?.fileID, let fileID = UniversalProfiling.FileID(hex: hex) {
            file = fileID
        } else if let name = frame.functionName {
            file = .init(interpretedFunction: name, file: "", line: 0)
        } else {
            file = .withoutFile
        }
        return .init(file: file, addressOrLine: address)
    }

    /// A Python source file as the eBPF profiler names it: a frozen module's pseudo-path
    /// (`<frozen importlib._bootstrap>`) becomes the file of its last name part
    /// (`_bootstrap.py`); other paths stay as they are.
    static func indexedSourceFile(_ path: String) -> String {
        guard path.hasPrefix("<frozen "), path.hasSuffix(">") else { return path }
        let inner = path.dropFirst("<frozen ".count).dropLast()
        let name = inner.split(separator: ".", omittingEmptySubsequences: false).last ?? inner
        return name.isEmpty ? path : name + ".py"
    }

    // MARK: Documents

    private static func action(_ verb: String, index: String, id: String?) -> [UInt8] {
        var json = JSONWriter(reservingCapacity: 96)
        json.beginObject()
        json.key(verb)
        json.beginObject()
        json.field("_index", index)
        if let id { json.field("_id", id) }
        json.endObject()
        json.endObject()
        return json.bytes
    }

    /// `profiling-hosts` is a data stream: documents are created, with ids Elasticsearch gives.
    private static let hostAction = action("create", index: hostsIndex, id: nil)

    /// The bulk action of each events index: all, then the downsampled ones.
    private static let eventActions = ([allEventsIndex] + downsampledEventIndices).map {
        action("create", index: $0, id: nil)
    }

    /// The event document of `sample` but its `@timestamp` and closing brace
    /// (``EventClock/appendTimestamp(unixNanoseconds:to:)`` adds them).
    private static func eventPrefix(sample: SymbolizedSample, batch: ProfilesBatch, traceID: String,
                                    frequency: UInt32) -> [UInt8] {
        var json = JSONWriter(reservingCapacity: 320)
        json.beginObject()
        json.field("ecs.version", ecsVersion)
        json.field("host.id", batch.hostID ?? "")
        if !batch.hostName.isEmpty { json.field("host.name", batch.hostName) }
        json.field("Stacktrace.id", traceID)
        json.field("Stacktrace.count", 1)
        json.field("Stacktrace.sampling_frequency", frequency)
        // The sampled thread's own name (its process's for a stream without thread names), as OTLP's thread.name.
        json.field("process.thread.name", sample.threadDisplayName)
        json.field("process.executable.name", sample.process.executableName)
        if let container = sample.process.containerID { json.field("container.id", container) }
        if let service = sample.process.serviceName { json.field("service.name", service) }
        var bytes = json.bytes
        bytes += Array(#","@timestamp":""#.utf8)
        return bytes
    }

    /// Writes events' times: RFC 3339 text, its date and clock worked out once a second.
    struct EventClock {
        private var second = UInt64.max
        private var text: [UInt8] = []

        /// Appends the time, the closing quote and the document's closing brace.
        mutating func appendTimestamp(unixNanoseconds: UInt64, to bytes: inout [UInt8]) {
            let seconds = unixNanoseconds / 1_000_000_000
            if seconds != second {
                second = seconds
                text = Array(UniversalProfilingDocuments.rfc3339(unixNanoseconds: seconds * 1_000_000_000).utf8.dropLast())
            }
            bytes += text
            var fraction = unixNanoseconds % 1_000_000_000
            if fraction != 0 {
                var digits = 9
                while fraction % 10 == 0 {
                    fraction /= 10
                    digits -= 1
                }
                bytes.append(UInt8(ascii: "."))
                let start = bytes.count
                for _ in 0..<digits {
                    bytes.append(UInt8(ascii: "0") + UInt8(fraction % 10))
                    fraction /= 10
                }
                bytes[start...].reverse()
            }
            bytes += Array(#"Z"}"#.utf8)
        }
    }

    private static func stackTraceDocument(rootFirst frames: [IndexedFrame]) -> [UInt8] {
        var ids: [UInt8] = []
        ids.reserveCapacity(frames.count * 24)
        for frame in frames { ids += frame.id.bytes }
        var json = JSONWriter(reservingCapacity: 64 + frames.count * 32)
        json.beginObject()
        json.field("ecs.version", ecsVersion)
        json.field("Stacktrace.frame.ids", UniversalProfiling.base64URL(ids))
        json.field("Stacktrace.frame.types", UniversalProfiling.encodeFrameTypes(rootFirst: frames.map(\.type)))
        json.endObject()
        return json.bytes
    }

    /// A named frame: arrays (one entry; inlined frames would add more), as the
    /// symbolizer and the Collector's exporter write them.
    private static func stackFrameDocument(_ frame: Frame) -> [UInt8] {
        var json = JSONWriter(reservingCapacity: 160)
        json.beginObject()
        json.field("ecs.version", ecsVersion)
        json.key("Stackframe.function.name")
        json.beginArray()
        json.string(frame.functionName ?? "")
        json.endArray()
        json.key("Stackframe.file.name")
        json.beginArray()
        json.string(frame.sourceFile.map(indexedSourceFile) ?? "")
        json.endArray()
        json.key("Stackframe.line.number")
        json.beginArray()
        json.number(Int32(clamping: frame.sourceLine))
        json.endArray()
        json.endObject()
        return json.bytes
    }

    private static func executableDocument(id: String, fileName: String, week: UInt64) -> [UInt8] {
        var json = JSONWriter(reservingCapacity: 640)
        json.beginObject()
        json.field("scripted_upsert", true)
        json.key("script")
        json.beginObject()
        json.field("source", executableUpsertScript)
        json.key("params")
        json.beginObject()
        json.field("timestamp", week)
        json.field("buildid", id)
        json.field("filename", fileName)
        json.field("ecs.version", ecsVersion)
        json.endObject()
        json.endObject()
        json.key("upsert")
        json.beginObject()
        json.endObject()
        json.endObject()
        return json.bytes
    }

    private static func queueDocument(field: String, id: String, seconds: UInt64) -> [UInt8] {
        let time = rfc3339(unixNanoseconds: seconds * 1_000_000_000)
        var json = JSONWriter(reservingCapacity: 160)
        json.beginObject()
        json.field("ecs.version", ecsVersion)
        json.key(field)
        json.beginArray()
        json.string(id)
        json.endArray()
        json.field("Time.created", time)
        json.field("Symbolization.time.next", time)
        json.field("Symbolization.retries", 0)
        json.endObject()
        return json.bytes
    }

    // MARK: Time

    /// The start of the week (Monday 00:00 UTC) holding `seconds`: Go's `Truncate` of a
    /// week counts from year 1, a Monday, not from the Unix epoch (a Thursday).
    static func startOfWeek(_ seconds: UInt64) -> UInt64 {
        let week: UInt64 = 7 * 86_400
        let epochFromYearOne: UInt64 = 62_135_596_800
        // Clamped at the epoch: a clock before 1970-01-05 has no Monday to go back to.
        return seconds - min(seconds, (seconds + epochFromYearOne) % week)
    }

    /// RFC 3339 in UTC with the fraction's trailing zeros dropped (Go's `RFC3339Nano`).
    static func rfc3339(unixNanoseconds: UInt64) -> String {
        let seconds = Int64(unixNanoseconds / 1_000_000_000)
        let fraction = unixNanoseconds % 1_000_000_000
        let days = seconds / 86_400
        let clock = seconds % 86_400
        // Civil date from days since 1970-01-01 (proleptic Gregorian, eras of 400 years).
        let shifted = days + 719_468
        let era = shifted / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var text = "\(year)-\(two(month))-\(two(day))T\(two(clock / 3600)):\(two(clock / 60 % 60)):\(two(clock % 60))"
        if fraction != 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 9 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text + "Z"
    }
}
