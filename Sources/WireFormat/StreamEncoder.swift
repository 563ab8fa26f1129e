/// Writes one stream: the header, then records, interning stacks and threads.
///
/// The encoder only produces bytes; the caller decides where they go (socket,
/// file) and when (`takeBytes()`). Its memory is bounded by `EncoderLimits`:
/// when an interning table fills up it writes `resetInterning` and starts the
/// tables over, so a long-running stream never grows without bound.
public struct StreamEncoder {
    public let header: StreamHeader
    public let limits: EncoderLimits

    /// Usable from inline for `bufferedByteCount` alone.
    @usableFromInline var output: ByteWriter
    private var payload = ByteWriter(capacity: 256)

    private var kernelStackIDs = StackInterningTable()
    private var userStackIDs = StackInterningTable()
    /// One table per runtime: two runtimes' frames with the same words are different stacks.
    private var interpreterStackIDs: [StackKind: StackInterningTable] = [:]
    /// Bit 0 of every runtime's walk flags: the frames were cut (`CPythonWalkFlags.truncated`).
    static let interpreterWalkTruncated: UInt32 = 1
    /// Each thread's reference and the name it was defined with.
    private var threadIDs = ThreadInterningTable()
    private var nextStackID: UInt64 = 1
    private var nextThreadID: UInt64 = 1
    private var internedFrames = 0
    private var previousSampleTime: UInt64

    /// Records cut to fit a limit (strings, stacks, lists) since the stream began.
    public private(set) var truncations = 0
    /// Times the interning tables were reset because they were full.
    public private(set) var interningResets = 0

    /// Starts a stream; the header is the first thing `takeBytes()` returns.
    public init(header: StreamHeader, limits: EncoderLimits = .init()) {
        self.header = header
        self.limits = limits
        self.output = ByteWriter(capacity: 64 << 10)
        self.previousSampleTime = header.clock.monotonicNanoseconds
        output.writeBytes(header.encoded(limits: limits))
    }

    /// An encoder of records alone, for `encodedRecords`: its header is never written.
    private init(limits: EncoderLimits) {
        self.header = StreamHeader(hostName: "", kernelRelease: "", bootID: "",
                                   clock: ClockReference(monotonicNanoseconds: 0, realtimeNanoseconds: 0),
                                   cpuCount: 0, samplesPerSecond: 0, samplerVersion: "")
        self.limits = limits
        self.output = ByteWriter()
        self.previousSampleTime = 0
    }

    /// Bytes encoded and not yet taken. Inlinable: the sampler asks per sample, and a call
    /// across the module boundary copied the whole encoder (each of its tables retained
    /// and released) to read one count.
    @inlinable public var bufferedByteCount: Int { output.bytes.count }

    /// Returns the encoded bytes and empties the buffer.
    public mutating func takeBytes() -> [UInt8] {
        let bytes = output.bytes
        output.removeAll()
        return bytes
    }

    // MARK: Samples

    /// Appends a sample. Stacks are leaf first; a stack seen before costs one
    /// varint. Stacks longer than `maximumFramesPerStack` keep their leaf side
    /// and the sample is flagged `userStackTruncated` (user) or cut silently
    /// for kernel stacks, which the kernel itself bounds far lower.
    public mutating func appendSample(time: UInt64, pid: Int32, tid: Int32, cpu: UInt32,
                                      kernelStack: some Collection<UInt64>, userStack: some Collection<UInt64>,
                                      flags: SampleFlags = []) {
        // One frame past the limit is enough for the array overload to see the cut.
        let copied = limits.maximumFramesPerStack + 1
        appendSample(time: time, pid: pid, tid: tid, cpu: cpu, kernelStack: Array(kernelStack.prefix(copied)),
                     userStack: Array(userStack.prefix(copied)), flags: flags)
    }

    /// `appendSample` for stacks already in arrays.
    public mutating func appendSample(time: UInt64, pid: Int32, tid: Int32, cpu: UInt32,
                                      kernelStack: [UInt64], userStack: [UInt64], flags: SampleFlags = [],
                                      cpythonFrames: [CPythonFrame] = [], cpythonFlags: CPythonWalkFlags = [],
                                      threadName: ThreadName = ThreadName(), offCPUNanoseconds: UInt64 = 0) {
        let cpythonWords = cpythonFrames.flatMap { frame in [frame.words.0, frame.words.1] }
        kernelStack.withUnsafeBufferPointer { kernel in
            userStack.withUnsafeBufferPointer { user in
                cpythonWords.withUnsafeBufferPointer { cpython in
                    appendSample(time: time, pid: pid, tid: tid, cpu: cpu, kernelStack: kernel, userStack: user, flags: flags,
                                 interpreterStack: cpython, interpreterStackKind: .cpython,
                                 interpreterFlags: cpythonFlags.rawValue, threadName: threadName,
                                 offCPUNanoseconds: offCPUNanoseconds)
                }
            }
        }
    }

    /// `appendSample` for stacks where they lie (the sampler's ring buffer records):
    /// a stack seen before is looked up without being copied.
    /// `interpreterStack`: one runtime's frames, two words each (`CPythonFrame.words` for
    /// `.cpython`), of `interpreterStackKind`; `interpreterFlags`: that runtime's walk flags.
    /// `offCPUNanoseconds`: 0 for an on-CPU sample, else how long the thread was off the CPU.
    public mutating func appendSample(time: UInt64, pid: Int32, tid: Int32, cpu: UInt32,
                                      kernelStack: UnsafeBufferPointer<UInt64>, userStack: UnsafeBufferPointer<UInt64>,
                                      flags: SampleFlags = [],
                                      interpreterStack: UnsafeBufferPointer<UInt64> = UnsafeBufferPointer(start: nil, count: 0),
                                      interpreterStackKind: StackKind = .cpython, interpreterFlags: UInt32 = 0,
                                      threadName: ThreadName = ThreadName(), offCPUNanoseconds: UInt64 = 0) {
        precondition(interpreterStackKind.isInterpreter, "an interpreter stack of kind \(interpreterStackKind)")
        var flags = flags
        // Both stacks of one sample must fit the interned-frames bound together.
        let framesPerStack = max(0, min(limits.maximumFramesPerStack, limits.maximumInternedFrames / 2))
        let kernel = UnsafeBufferPointer(rebasing: kernelStack.prefix(framesPerStack))
        let user = UnsafeBufferPointer(rebasing: userStack.prefix(framesPerStack))
        if user.count < userStack.count {
            flags.insert(.userStackTruncated)
            truncations += 1
        }
        if kernel.count < kernelStack.count { truncations += 1 }
        // What the other two stacks leave of the interned-frames bound; whole frames only.
        let interpreterWords = max(0, min(limits.maximumFramesPerStack,
                                          limits.maximumInternedFrames - kernel.count - user.count))
        let interpreter = UnsafeBufferPointer(rebasing: interpreterStack.prefix(
            interpreterWords - interpreterWords % interpreterStackKind.wordsPerFrame))
        var interpreterFlags = interpreterFlags
        if interpreter.count < interpreterStack.count {
            interpreterFlags |= Self.interpreterWalkTruncated
            truncations += 1
        }

        var kernelID = kernel.isEmpty ? 0 : kernelStackIDs.id(of: kernel)
        var userID = user.isEmpty ? 0 : userStackIDs.id(of: user)
        var interpreterID = interpreter.isEmpty ? 0 : interpreterStackIDs[interpreterStackKind]?.id(of: interpreter)
        let threadKey = UInt64(UInt32(bitPattern: pid)) << 32 | UInt64(UInt32(bitPattern: tid))
        // A renamed thread is defined again, under a new reference.
        var threadID = threadIDs.reference(of: threadKey, named: threadName)

        // Make room first, so that one sample's definitions never straddle a reset.
        let newFrames = (kernelID == nil ? kernel.count : 0) + (userID == nil ? user.count : 0)
            + (interpreterID == nil ? interpreter.count : 0)
        let newStacks = (kernelID == nil ? 1 : 0) + (userID == nil ? 1 : 0) + (interpreterID == nil ? 1 : 0)
        if Int(nextStackID) - 1 + newStacks > limits.maximumStacks
            || internedFrames + newFrames > limits.maximumInternedFrames
            || (threadID == nil && Int(nextThreadID) > limits.maximumThreads) {
            resetInterning()
            kernelID = kernel.isEmpty ? 0 : nil
            userID = user.isEmpty ? 0 : nil
            interpreterID = interpreter.isEmpty ? 0 : nil
            threadID = nil
        }

        let kernelReference = kernelID ?? define(kernel, kind: .kernel)
        let userReference = userID ?? define(user, kind: .user)
        let interpreterReference = interpreterID ?? define(interpreter, kind: interpreterStackKind)
        let threadReference: UInt64
        if let threadID {
            threadReference = threadID
        } else {
            threadReference = nextThreadID
            nextThreadID += 1
            threadIDs.set(threadKey, reference: threadReference, name: threadName)
            payload.removeAll()
            payload.writeThreadDefinition(ThreadDefinition(id: threadReference, pid: pid, tid: tid, name: threadName.text))
            frame(.threadDefinition)
        }

        // Framed in place, not through `payload`: a sample's payload is at most nine varints
        // (90 bytes), so its length is always one byte, written first and filled in after.
        output.writeVarint(RecordType.sample.rawValue)
        let lengthIndex = output.count
        output.bytes.append(0)
        output.writeSampleReference(timeDelta: ZigZag.delta(time, from: previousSampleTime), thread: threadReference,
                                    cpu: cpu, kernelStack: kernelReference, userStack: userReference, flags: flags,
                                    interpreterStack: interpreterReference, interpreterFlags: interpreterFlags,
                                    offCPUNanoseconds: offCPUNanoseconds)
        let length = output.count - lengthIndex - 1
        precondition(length < 0x80, "a sample record of \(length) bytes")
        output.bytes[lengthIndex] = UInt8(length)
        previousSampleTime = time
    }

    /// Interns a stack not yet known and writes its definition.
    private mutating func define(_ frames: UnsafeBufferPointer<UInt64>, kind: StackKind) -> UInt64 {
        let id = nextStackID
        nextStackID += 1
        internedFrames += frames.count
        switch kind {
        case .kernel: kernelStackIDs.insert(frames, id: id)
        case .user: userStackIDs.insert(frames, id: id)
        default: interpreterStackIDs[kind, default: StackInterningTable()].insert(frames, id: id)
        }
        payload.removeAll()
        payload.writeStackDefinition(id: id, kind: kind, frames: frames)
        frame(.stackDefinition)
        return id
    }

    /// Forgets every interned stack and thread, and tells the reader to do the same.
    public mutating func resetInterning() {
        kernelStackIDs.removeAll()
        userStackIDs.removeAll()
        interpreterStackIDs.removeAll()
        threadIDs.removeAll()
        nextStackID = 1
        nextThreadID = 1
        internedFrames = 0
        interningResets += 1
        payload.removeAll()
        frame(.resetInterning)
    }

    // MARK: Other records

    /// Appends a record that carries no interned reference. Kernel symbol lists
    /// are split into chunks of `kernelSymbolsPerRecord`; definitions and
    /// samples go through `appendSample` and are ignored here.
    public mutating func append(_ record: Record) {
        switch record {
        case .process(let process):
            payload.removeAll()
            payload.writeProcess(process, limits: limits)
            frame(.process)
        case .mappings(let mappings):
            appendMappings(mappings)
        case .processExit(let exit):
            payload.removeAll()
            payload.writeProcessExit(exit)
            frame(.processExit)
        case .kernelSymbols(let symbols):
            appendKernelSymbols(symbols.symbols)
        case .kernelModules(let modules):
            appendKernelModules(modules.modules)
        case .statistics(let statistics):
            payload.removeAll()
            payload.writeStatistics(statistics)
            frame(.statistics)
        case .endOfStream(let end):
            payload.removeAll()
            payload.writeEndOfStream(end)
            frame(.endOfStream)
        case .unwindTablesEvicted(let evicted):
            payload.removeAll()
            payload.writeUnwindTablesEvicted(evicted)
            frame(.unwindTablesEvicted)
        case .fileDescriptor(let answer):
            payload.removeAll()
            payload.writeFileDescriptorAnswer(answer)
            frame(.fileDescriptor)
        case .cpythonCode(let code):
            payload.removeAll()
            payload.writeCPythonCode(code)
            frame(.cpythonCode)
        case .hotspotMethod(let method):
            payload.removeAll()
            payload.writeHotSpotMethod(method)
            frame(.hotspotMethod)
        case .hotspotCode(let code):
            payload.removeAll()
            payload.writeHotSpotCode(code)
            frame(.hotspotCode)
        case .perlSub(let sub):
            payload.removeAll()
            payload.writePerlSub(sub)
            frame(.perlSub)
        case .rubyISeq(let record):
            payload.removeAll()
            payload.writeRubyISeq(record)
            frame(.rubyISeq)
        case .phpFunction(let record):
            payload.removeAll()
            payload.writePHPFunction(record)
            frame(.phpFunction)
        case .v8Function(let function):
            payload.removeAll()
            payload.writeV8Function(function)
            frame(.v8Function)
        case .v8Code(let code):
            payload.removeAll()
            payload.writeV8Code(code)
            frame(.v8Code)
        case .beamFunction(let record):
            payload.removeAll()
            payload.writeBEAMFunction(record)
            frame(.beamFunction)
        case .resetInterning:
            resetInterning()
        case .header, .stackDefinition, .threadDefinition, .sample, .unknown:
            break
        }
    }

    /// `record` encoded on its own (as `append` would, with no header before it): bytes
    /// that `appendEncoded` copies into any stream with the same limits. For state held
    /// long and sent at the start of every stream, which takes less memory encoded.
    public static func encodedRecords(_ record: Record, limits: EncoderLimits = .init()) -> [UInt8] {
        var encoder = StreamEncoder(limits: limits)
        encoder.append(record)
        return encoder.takeBytes()
    }

    /// Appends records that `encodedRecords` made with this encoder's limits.
    public mutating func appendEncoded(_ records: ArraySlice<UInt8>) {
        output.bytes.append(contentsOf: records)
    }

    /// Writes `symbols` as records of at most `kernelSymbolsPerRecord` entries
    /// and `maximumRecordLength` bytes; an empty list is one empty record.
    private mutating func appendKernelSymbols(_ symbols: [KernelSymbol]) {
        let perRecord = max(1, min(limits.kernelSymbolsPerRecord, limits.maximumListLength))
        var entries = ByteWriter(capacity: 64 << 10)
        var start = 0
        repeat {
            entries.removeAll()
            var count = 0
            var previous: UInt64 = 0
            var index = start
            while index < symbols.count && count < perRecord {
                let before = entries.count
                entries.writeKernelSymbol(symbols[index], previous: previous, limits: limits)
                if entries.count + 16 > limits.maximumRecordLength {
                    entries.bytes.removeSubrange(before...)
                    if count > 0 { break }
                    // An entry that fits no record at all (only under tiny limits) is dropped.
                    truncations += 1
                    index += 1
                    continue
                }
                previous = symbols[index].address
                count += 1
                index += 1
            }
            payload.removeAll()
            payload.writeVarint(UInt64(count))
            payload.writeBytes(entries.bytes)
            frame(.kernelSymbols)
            start = index
        } while start < symbols.count
    }

    /// Writes the modules that fit one record; the rest are cut and counted.
    private mutating func appendKernelModules(_ modules: [KernelModule]) {
        var entries = ByteWriter(capacity: 32 * modules.count)
        var kept = 0
        for module in modules.prefix(limits.maximumListLength) {
            let before = entries.count
            entries.writeKernelModule(module, limits: limits)
            if entries.count + 16 > limits.maximumRecordLength {
                entries.bytes.removeSubrange(before...)
                break
            }
            kept += 1
        }
        if kept < modules.count { truncations += 1 }
        payload.removeAll()
        payload.writeVarint(UInt64(kept))
        payload.writeBytes(entries.bytes)
        frame(.kernelModules)
    }

    private mutating func appendMappings(_ mappings: Mappings) {
        var entries = ByteWriter(capacity: 64 * mappings.mappings.count)
        var kept = 0
        var previousEnd: UInt64 = 0
        for mapping in mappings.mappings.prefix(limits.maximumListLength) {
            let before = entries.count
            entries.writeMapping(mapping, previousEnd: previousEnd, limits: limits)
            if entries.count + 16 > limits.maximumRecordLength {
                entries.bytes.removeSubrange(before...)
                break
            }
            previousEnd = mapping.end
            kept += 1
        }
        if kept < mappings.mappings.count { truncations += 1 }
        payload.removeAll()
        payload.writeInt32(mappings.pid)
        payload.writeVarint(UInt64(kept))
        payload.writeBytes(entries.bytes)
        frame(.mappings)
    }

    /// Moves `payload` into the output as one record: type, length, payload.
    private mutating func frame(_ type: RecordType) {
        output.writeVarint(type.rawValue)
        output.writeVarint(UInt64(payload.count))
        output.writeBytes(payload.bytes)
    }
}
