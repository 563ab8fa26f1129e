import Exporters
#if canImport(Glibc)
import Glibc
import SystemCalls
#endif
import StreamDecoding
import WireFormat

/// `tandem-aggregator inspect`: one readable line per record, or a summary.
///
/// The capture is read in chunks and decoded incrementally, so a file of any
/// size is inspected in the decoder's bounded memory (plus, for the summary,
/// one entry per distinct stack and pid).
public enum CaptureInspection {
    /// Reads `path` chunk by chunk with `read(2)`, feeding `decoder` and handing
    /// each record and the stream offset it starts at to `body`. Throws the
    /// `WireFormatError` that stopped decoding, or a `SystemCallError`.
    public static func decode(path: String, chunkSize: Int = 1 << 20, limits: DecoderLimits = .default,
                              _ body: (Record, Int) throws -> Void) throws {
        let file = try FileDescriptor.open(path, O_RDONLY)
        var decoder = StreamDecoder(limits: limits)
        var chunk = [UInt8](repeating: 0, count: max(1, chunkSize))
        while true {
            let count = try file.read(into: &chunk)
            if count == 0 { break }
            decoder.feed(chunk[..<count])
            var offset = decoder.bytesConsumed
            while let record = try decoder.next() {
                try body(record, offset)
                offset = decoder.bytesConsumed
            }
        }
        try decoder.finish()
    }

    /// One line describing `record`, e.g.
    /// `sample t=1000000100 pid=42 tid=43 cpu=1 kstack=#1(2 frames) ustack=#2(3 frames) flags=user_stack_truncated`.
    public static func line(for record: Record) -> String {
        switch record {
        case .header(let header):
            return "header version=\(header.version) host=\(quoted(header.hostName)) kernel=\(quoted(header.kernelRelease))"
                + " boot_id=\(quoted(header.bootID)) cpus=\(header.cpuCount) hz=\(header.samplesPerSecond)"
                + " clock_monotonic=\(header.clock.monotonicNanoseconds) clock_realtime=\(header.clock.realtimeNanoseconds)"
                + " sampler=\(quoted(header.samplerVersion))"
        case .stackDefinition(let stack):
            switch stack.kind {
            case .kernel, .user:
                return "stack #\(stack.id) \(stack.kind) \(stack.frames.count) frames:" + stack.frames.map { " " + hex($0) }.joined()
            case .cpython:
                let frames = CPythonFrame.frames(words: stack.frames)
                return "stack #\(stack.id) cpython \(frames.count) frames:" + frames.map { frame in
                    " \(hex(frame.code))/\(hex(UInt64(frame.fingerprint)))@"
                        + (frame.instruction == CPythonFrame.unknownInstruction ? "?" : "\(frame.instruction)")
                        + (frame.flags.contains(.entry) ? "!" : "")
                }.joined()
            case .hotspot:
                let frames = HotSpotFrame.frames(words: stack.frames)
                return "stack #\(stack.id) hotspot \(frames.count) frames:" + frames.map { frame in
                    " \(frame.kind)@\(frame.slot):\(hex(frame.method))/\(hex(UInt64(frame.fingerprint)))+\(frame.position)"
                }.joined()
            case .perl:
                let frames = PerlFrame.frames(words: stack.frames)
                return "stack #\(stack.id) perl \(frames.count) frames:" + frames.map { frame in
                    " \(hex(frame.address))/\(hex(UInt64(frame.fingerprint)))@\(frame.line)"
                        + (frame.flags.contains(.entry) ? "!" : "")
                }.joined()
            case .ruby:
                let frames = RubyFrame.frames(words: stack.frames)
                return "stack #\(stack.id) ruby \(frames.count) frames:" + frames.map { frame in
                    " \(hex(frame.iseq))/\(hex(UInt64(frame.fingerprint)))@"
                        + (frame.position == RubyFrame.unknownPosition ? "?" : "\(frame.position)")
                        + (frame.flags.contains(.entry) ? "!" : "")
                }.joined()
            case .php:
                let frames = PHPFrame.frames(words: stack.frames)
                return "stack #\(stack.id) php \(frames.count) frames:" + frames.map { frame in
                    " \(hex(frame.function))/\(hex(UInt64(frame.fingerprint)))@\(frame.line)"
                        + (frame.flags.contains(.entry) ? "!" : "")
                }.joined()
            case .v8:
                let frames = V8Frame.frames(words: stack.frames)
                return "stack #\(stack.id) v8 \(frames.count) frames:" + frames.map { frame in
                    " \(hex(frame.pc))=\(hex(frame.sharedFunctionInfo))/\(hex(UInt64(frame.fingerprint)))@"
                        + (frame.offset == V8Frame.unknownOffset ? "?" : "\(frame.offset)")
                        + (frame.kind == .interpreted ? "i" : "c")
                        + (frame.codeFingerprint == 0 ? "" : "+\(hex(UInt64(frame.codeFingerprint)))")
                }.joined()
            case .beam:
                let frames = BEAMFrame.frames(words: stack.frames)
                return "stack #\(stack.id) beam \(frames.count) frames:" + frames.map { frame in
                    " \(hex(frame.pc))=\(hex(frame.codeInfo))"
                }.joined()
            }
        case .threadDefinition(let thread):
            return "thread #\(thread.id) pid=\(thread.pid) tid=\(thread.tid)"
        case .sample(let sample):
            return "sample t=\(sample.time) pid=\(sample.pid) tid=\(sample.tid) cpu=\(sample.cpu)"
                + " kstack=\(stackReference(sample.kernelStackID, sample.kernelStack.count))"
                + " ustack=\(stackReference(sample.userStackID, sample.userStack.count)) flags=\(flags(sample.flags))"
                + (sample.interpreterStackID == 0 && sample.interpreterFlags == 0 ? ""
                    : " \(interpreterLabel(sample.interpreterStackKind))stack="
                        + "\(stackReference(sample.interpreterStackID, sample.interpreterStack.count / 2))"
                        + " \(interpreterLabel(sample.interpreterStackKind))flags=\(sample.interpreterFlags)")
        case .process(let process):
            return "process pid=\(process.pid) ppid=\(process.parentPID) start=\(process.startTime) comm=\(quoted(process.comm))"
                + " exe=\(quoted(process.executablePath)) cgroup=\(quoted(process.cgroupPath))" + (process.isExec ? " exec" : "")
        case .mappings(let mappings):
            return "mappings pid=\(mappings.pid) count=\(mappings.mappings.count)" + mappings.mappings.map { mapping in
                " [\(hex(mapping.start))-\(hex(mapping.end)) offset=\(hex(mapping.fileOffset)) dev=\(device(mapping.device))"
                    + " inode=\(mapping.inode) \(quoted(mapping.path))]"
            }.joined()
        case .processExit(let exit):
            return "exit pid=\(exit.pid) t=\(exit.time)"
        case .kernelSymbols(let chunk):
            guard let first = chunk.symbols.first, let last = chunk.symbols.last else { return "kernel_symbols count=0" }
            return "kernel_symbols count=\(chunk.symbols.count) first=\(symbol(first)) last=\(symbol(last))"
        case .kernelModules(let modules):
            return "kernel_modules count=\(modules.modules.count)" + modules.modules.map {
                " \(quoted($0.name))@\(hex($0.start))+\(hex($0.size))"
            }.joined()
        case .statistics(let statistics):
            return "statistics t=\(statistics.time)" + statistics.counters.sorted { $0.key.rawValue < $1.key.rawValue }
                .map { " \($0.key)=\($0.value)" }.joined()
        case .resetInterning:
            return "reset_interning"
        case .endOfStream(let end):
            return "end_of_stream t=\(end.time) reason=\(end.reason)"
        case .unwindTablesEvicted(let evicted):
            return "unwind_tables_evicted count=\(evicted.tableIDs.count)" + evicted.tableIDs.map { " #\($0)" }.joined()
        case .fileDescriptor(let answer):
            return "file_descriptor pid=\(answer.pid) start=\(hex(answer.start)) dev=\(answer.device) inode=\(answer.inode)"
                + " status=\(answer.status)" + (answer.errorNumber == 0 ? "" : " errno=\(answer.errorNumber)")
        case .cpythonCode(let code):
            return "cpython_code pid=\(code.pid) code=\(hex(code.code)) fingerprint=\(hex(UInt64(code.fingerprint)))"
                + " python=\(code.pythonVersion >> 8).\(code.pythonVersion & 0xff) flags=\(hex(UInt64(code.flags)))"
                + " bytes=\(code.header.count)/\(code.name.count)/\(code.qualifiedName.count)/\(code.fileName.count)/\(code.lineTable.count)"
        case .hotspotMethod(let method):
            return "hotspot_method pid=\(method.pid) method=\(hex(method.method)) fingerprint=\(hex(UInt64(method.fingerprint)))"
                + " jdk=\(method.featureVersion) flags=\(hex(UInt64(method.flags)))"
                + " bytes=\(method.constMethod.count)/\(method.className.count)/\(method.methodName.count)"
                + "/\(method.sourceFile.count)/\(method.lineTable.count)"
        case .hotspotCode(let code):
            return "hotspot_code pid=\(code.pid) code=\(hex(code.code)) fingerprint=\(hex(UInt64(code.fingerprint)))"
                + " jdk=\(code.featureVersion) method=\(hex(code.method))/\(hex(UInt64(code.methodFingerprint)))"
                + " flags=\(hex(UInt64(code.flags)))"
                + " metadata=" + code.metadata.map { "\(hex($0.address))/\(hex(UInt64($0.fingerprint)))" }.joined(separator: ",")
                + " bytes=\(code.pcDescs.count)/\(code.scopes.count)"
        case .perlSub(let sub):
            return "perl_sub pid=\(sub.pid) address=\(hex(sub.address)) fingerprint=\(hex(UInt64(sub.fingerprint)))"
                + " perl=\(sub.perlVersion >> 16).\(sub.perlVersion >> 8 & 0xff).\(sub.perlVersion & 0xff) flags=\(hex(UInt64(sub.flags)))"
                + " bytes=\(sub.name.count)/\(sub.package.count)/\(sub.file.count)"
        case .rubyISeq(let record):
            return "ruby_iseq pid=\(record.pid) iseq=\(hex(record.iseq)) fingerprint=\(hex(UInt64(record.fingerprint)))"
                + " ruby=\(record.rubyVersion >> 8).\(record.rubyVersion & 0xff) flags=\(hex(UInt64(record.flags)))"
                + " bytes=\(record.body.count)/\(record.label.count)/\(record.path.count)/\(record.lineEntries.count)/\(record.succinctTable.count)"
        case .phpFunction(let record):
            return "php_function pid=\(record.pid) function=\(hex(record.function)) fingerprint=\(hex(UInt64(record.fingerprint)))"
                + " php=\(record.phpVersion >> 8).\(record.phpVersion & 0xff) type=\(record.type) flags=\(hex(UInt64(record.flags)))"
                + " bytes=\(record.name.count)/\(record.className.count)/\(record.file.count)"
        case .v8Function(let function):
            return "v8_function pid=\(function.pid) sfi=\(hex(function.sharedFunctionInfo))"
                + " fingerprint=\(hex(UInt64(function.fingerprint))) v8=\(hex(UInt64(function.v8Version)))"
                + " flags=\(hex(UInt64(function.flags)))"
                + " bytes=\(function.sharedFunctionInfoBytes.count)/\(function.scopeInfoSlots.count)/\(function.name.count)/\(function.scriptName.count)"
        case .v8Code(let code):
            return "v8_code pid=\(code.pid) start=\(hex(code.instructionStart)) fingerprint=\(hex(UInt64(code.fingerprint)))"
                + " v8=\(hex(UInt64(code.v8Version))) kind=\(code.codeKind) size=\(code.instructionSize) flags=\(hex(UInt64(code.flags)))"
                + " inlined=" + code.inlinedFunctions.map { "\(hex($0.sharedFunctionInfo))/\(hex(UInt64($0.fingerprint)))" }.joined(separator: ",")
                + " bytes=\(code.inliningPositions.count)/\(code.sourcePositionTable.count)"
        case .beamFunction(let function):
            return "beam_function pid=\(function.pid) code_info=\(hex(function.codeInfo)) erts=\(function.ertsMajor)"
                + " arity=\(function.arity) flags=\(hex(UInt64(function.flags)))"
                + " bytes=\(function.moduleName.count)/\(function.functionName.count)"
        case .unknown(let type, let length):
            return "unknown type=\(type) length=\(length)"
        }
    }

    static func stackReference(_ id: UInt64, _ frames: Int) -> String {
        id == 0 ? "none" : "#\(id)(\(frames) frames)"
    }

    /// "py" for Python frames (and for walk flags without frames, which only CPython's
    /// walker sends today), else the runtime's kind.
    static func interpreterLabel(_ kind: StackKind?) -> String {
        guard let kind, kind != .cpython else { return "py" }
        return "\(kind)"
    }

    static func flags(_ flags: SampleFlags) -> String {
        var names: [String] = []
        if flags.contains(.userStackTruncated) { names.append("user_stack_truncated") }
        if flags.contains(.kernelStackMissing) { names.append("kernel_stack_missing") }
        if flags.contains(.userStackMissing) { names.append("user_stack_missing") }
        let unknown = flags.rawValue & ~(SampleFlags.userStackTruncated.rawValue | SampleFlags.kernelStackMissing.rawValue
                                         | SampleFlags.userStackMissing.rawValue)
        if unknown != 0 { names.append(hex(unknown)) }
        return names.isEmpty ? "none" : names.joined(separator: ",")
    }

    static func symbol(_ symbol: KernelSymbol) -> String {
        let type = symbol.type >= 0x21 && symbol.type < 0x7F ? String(UnicodeScalar(symbol.type)) : "?"
        return "\(hex(symbol.address)) \(type) \(quoted(symbol.module.isEmpty ? symbol.name : "\(symbol.name) [\(symbol.module)]"))"
    }

    /// `major:minor` of a Linux `dev_t`.
    static func device(_ device: UInt64) -> String {
        let major = ((device >> 8) & 0xFFF) | ((device >> 32) & ~0xFFF)
        let minor = (device & 0xFF) | ((device >> 12) & ~0xFF)
        return "\(major):\(minor)"
    }

    static func hex(_ value: UInt64) -> String {
        "0x" + String(value, radix: 16)
    }

    /// A string in double quotes with JSON escapes, so that a line stays one line.
    static func quoted(_ string: String) -> String {
        JSONText.string(string)
    }
}

/// Counts over a whole capture: what `inspect --summary` prints.
public struct CaptureSummary {
    public private(set) var header: StreamHeader?
    public private(set) var recordsByType: [String: Int] = [:]
    public private(set) var samples = 0
    public private(set) var processes: Set<Int32> = []
    public private(set) var processRecords = 0
    public private(set) var mappingEntries = 0
    public private(set) var threads: Set<UInt64> = []
    private var kernelStacks: Set<[UInt64]> = []
    private var userStacks: Set<[UInt64]> = []
    public private(set) var lastStatistics: SamplerStatistics?
    public private(set) var endOfStream: EndOfStream?
    public private(set) var firstSampleTime: UInt64?
    public private(set) var lastSampleTime: UInt64?
    /// Bytes decoded (set by the caller from the decoder).
    public var bytes = 0
    /// Why decoding stopped early, if it did.
    public var error: String?

    public init() {}

    public var distinctKernelStacks: Int { kernelStacks.count }
    public var distinctUserStacks: Int { userStacks.count }

    public mutating func add(_ record: Record) {
        recordsByType[Self.name(of: record), default: 0] += 1
        switch record {
        case .header(let header):
            self.header = header
        case .sample(let sample):
            samples += 1
            threads.insert(UInt64(UInt32(bitPattern: sample.pid)) << 32 | UInt64(UInt32(bitPattern: sample.tid)))
            if firstSampleTime == nil { firstSampleTime = sample.time }
            lastSampleTime = sample.time
        case .stackDefinition(let stack):
            // Counted by content: a stack defined again after a reset is not new.
            switch stack.kind {
            case .kernel: kernelStacks.insert(stack.frames)
            case .user: userStacks.insert(stack.frames)
            case .cpython, .perl, .ruby, .php, .v8, .hotspot, .beam: break
            }
        case .process(let process):
            processRecords += 1
            processes.insert(process.pid)
        case .mappings(let mappings):
            mappingEntries += mappings.mappings.count
        case .statistics(let statistics):
            lastStatistics = statistics
        case .endOfStream(let end):
            endOfStream = end
        default:
            break
        }
    }

    /// The record type names used as keys of `records`.
    public static func name(of record: Record) -> String {
        switch record {
        case .header: "header"
        case .stackDefinition: "stack_definition"
        case .threadDefinition: "thread_definition"
        case .sample: "sample"
        case .process: "process"
        case .mappings: "mappings"
        case .processExit: "process_exit"
        case .kernelSymbols: "kernel_symbols"
        case .kernelModules: "kernel_modules"
        case .statistics: "statistics"
        case .resetInterning: "reset_interning"
        case .endOfStream: "end_of_stream"
        case .unwindTablesEvicted: "unwind_tables_evicted"
        case .fileDescriptor: "file_descriptor"
        case .cpythonCode: "cpython_code"
        case .hotspotMethod: "hotspot_method"
        case .hotspotCode: "hotspot_code"
        case .perlSub: "perl_sub"
        case .rubyISeq: "ruby_iseq"
        case .phpFunction: "php_function"
        case .v8Function: "v8_function"
        case .v8Code: "v8_code"
        case .beamFunction: "beam_function"
        case .unknown(let type, _): "unknown_\(type)"
        }
    }

    /// One JSON object, keys in a fixed order.
    public var json: String {
        var fields: [(String, String)] = []
        fields.append(("bytes", "\(bytes)"))
        fields.append(("records", JSONText.object(recordsByType.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") })))
        fields.append(("samples", "\(samples)"))
        fields.append(("bytes_per_sample", samples == 0 ? "null" : JSONText.decimal(Double(bytes) / Double(samples))))
        fields.append(("processes", "\(processes.count)"))
        fields.append(("process_records", "\(processRecords)"))
        fields.append(("mappings", "\(mappingEntries)"))
        fields.append(("threads", "\(threads.count)"))
        fields.append(("distinct_stacks", JSONText.object([
            ("total", "\(kernelStacks.count + userStacks.count)"), ("kernel", "\(kernelStacks.count)"), ("user", "\(userStacks.count)"),
        ])))
        var drops: [(String, String)] = [("total", "\(lastStatistics?.totalDrops ?? 0)")]
        let reasons = (lastStatistics?.counters ?? [:]).filter { $0.key.isDrop }.sorted { $0.key.rawValue < $1.key.rawValue }
        drops.append(("by_reason", JSONText.object(reasons.map { ("\($0.key)", "\($0.value)") })))
        fields.append(("drops", JSONText.object(drops)))
        if let first = firstSampleTime, let last = lastSampleTime {
            fields.append(("sample_time_span_ns", "\(last >= first ? last - first : 0)"))
        }
        if let header {
            fields.append(("host", JSONText.object([
                ("format_version", "\(header.version)"),
                ("host_name", JSONText.string(header.hostName)),
                ("kernel_release", JSONText.string(header.kernelRelease)),
                ("boot_id", JSONText.string(header.bootID)),
                ("cpu_count", "\(header.cpuCount)"),
                ("samples_per_second", "\(header.samplesPerSecond)"),
                ("clock_monotonic_ns", "\(header.clock.monotonicNanoseconds)"),
                ("clock_realtime_ns", "\(header.clock.realtimeNanoseconds)"),
                ("sampler_version", JSONText.string(header.samplerVersion)),
            ])))
        } else {
            fields.append(("host", "null"))
        }
        fields.append(("end_of_stream", endOfStream.map { JSONText.string("\($0.reason)") } ?? "null"))
        fields.append(("error", error.map(JSONText.string) ?? "null"))
        return JSONText.object(fields)
    }
}

/// The few JSON spellings inspect needs.
enum JSONText {
    static func string(_ value: String) -> String {
        JSONStringLiteral.quoted(value)
    }

    static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    /// A non-negative number with two decimals.
    static func decimal(_ value: Double) -> String {
        guard value.isFinite, value >= 0 else { return "null" }
        let hundredths = UInt64((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
