/// Writes one stream: the header, then records, interning stacks and threads.
///
/// The encoder only produces bytes; the caller decides where they go (socket,
/// file) and when (`takeBytes()`). Its memory is bounded by `EncoderLimits`:
/// when an interning table fills up it writes `resetInterning` and starts the
/// tables over, so a long-running stream never grows without bound.
public struct StreamEncoder {
    public let header: StreamHeader
    public let limits: EncoderLimits

    private var output: ByteWriter
    private var payload = ByteWriter(capacity: 256)

    private var kernelStackIDs: [[UInt64]: UInt64] = [:]
    private var userStackIDs: [[UInt64]: UInt64] = [:]
    private var threadIDs: [UInt64: UInt64] = [:]
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

    /// Bytes encoded and not yet taken.
    public var bufferedByteCount: Int { output.count }

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
        var flags = flags
        var kernel = Array(kernelStack.prefix(limits.maximumFramesPerStack))
        var user = Array(userStack.prefix(limits.maximumFramesPerStack))
        if user.count < userStack.count {
            flags.insert(.userStackTruncated)
            truncations += 1
        }
        if kernel.count < kernelStack.count { truncations += 1 }

        // Make room first, so that one sample's definitions never straddle a reset.
        let newFrames = (kernelStackIDs[kernel] == nil ? kernel.count : 0)
            + (userStackIDs[user] == nil ? user.count : 0)
        if Int(nextStackID) + 2 > limits.maximumStacks + 1
            || internedFrames + newFrames > limits.maximumInternedFrames
            || Int(nextThreadID) > limits.maximumThreads {
            resetInterning()
        }

        let kernelID = kernel.isEmpty ? 0 : intern(&kernel, kind: .kernel)
        let userID = user.isEmpty ? 0 : intern(&user, kind: .user)
        let threadKey = UInt64(UInt32(bitPattern: pid)) << 32 | UInt64(UInt32(bitPattern: tid))
        let threadID: UInt64
        if let known = threadIDs[threadKey] {
            threadID = known
        } else {
            threadID = nextThreadID
            nextThreadID += 1
            threadIDs[threadKey] = threadID
            payload.removeAll()
            payload.writeThreadDefinition(ThreadDefinition(id: threadID, pid: pid, tid: tid))
            frame(.threadDefinition)
        }

        payload.removeAll()
        payload.writeSampleReference(timeDelta: ZigZag.delta(time, from: previousSampleTime), thread: threadID,
                                     cpu: cpu, kernelStack: kernelID, userStack: userID, flags: flags)
        previousSampleTime = time
        frame(.sample)
    }

    private mutating func intern(_ frames: inout [UInt64], kind: StackKind) -> UInt64 {
        if let known = (kind == .kernel ? kernelStackIDs[frames] : userStackIDs[frames]) { return known }
        let id = nextStackID
        nextStackID += 1
        internedFrames += frames.count
        if kind == .kernel { kernelStackIDs[frames] = id } else { userStackIDs[frames] = id }
        payload.removeAll()
        payload.writeStackDefinition(id: id, kind: kind, frames: frames)
        frame(.stackDefinition)
        return id
    }

    /// Forgets every interned stack and thread, and tells the reader to do the same.
    public mutating func resetInterning() {
        kernelStackIDs.removeAll()
        userStackIDs.removeAll()
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
            var start = 0
            repeat {
                let end = min(symbols.symbols.count, start + max(1, limits.kernelSymbolsPerRecord))
                payload.removeAll()
                payload.writeKernelSymbols(symbols.symbols[start..<end], limits: limits)
                frame(.kernelSymbols)
                start = end
            } while start < symbols.symbols.count
        case .kernelModules(let modules):
            let kept = modules.modules.prefix(limits.maximumListLength)
            if kept.count < modules.modules.count { truncations += 1 }
            payload.removeAll()
            payload.writeKernelModules(kept, limits: limits)
            frame(.kernelModules)
        case .statistics(let statistics):
            payload.removeAll()
            payload.writeStatistics(statistics)
            frame(.statistics)
        case .endOfStream(let end):
            payload.removeAll()
            payload.writeEndOfStream(end)
            frame(.endOfStream)
        case .resetInterning:
            resetInterning()
        case .header, .stackDefinition, .threadDefinition, .sample, .unknown:
            break
        }
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
