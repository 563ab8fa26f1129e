import WireFormat

/// Decodes one stream incrementally, from chunks of any size.
///
/// Feed bytes as they arrive, then call `next()` until it returns `nil`
/// (more bytes needed). Chunk boundaries never change the result: feeding one
/// byte at a time yields the same records. At the end of the input call
/// `finish()`, which reports a stream cut inside a record.
///
/// The decoder is the aggregator's security boundary. It never trusts a
/// length, a count or an id: each is checked against `DecoderLimits` and the
/// bytes present before anything is allocated, and every violation is a
/// `WireFormatError` naming the record and its byte offset. After an error
/// the decoder stays failed and rethrows it. Memory is bounded by the limits
/// as long as the caller drains `next()` before feeding more than one chunk.
public struct StreamDecoder {
    public let limits: DecoderLimits

    /// The stream header, once decoded.
    public private(set) var header: StreamHeader? {
        didSet { hasHeader = header != nil }
    }
    /// Whether the header was decoded: a flag, so that the per-record check does
    /// not copy (and retain) the header's strings.
    private var hasHeader = false
    /// Whether the end-of-stream record was read.
    public var reachedEndOfStream: Bool { resolver.reachedEndOfStream }

    private var buffer: [UInt8] = []
    /// Index in `buffer` of the first byte not yet decoded.
    private var readIndex = 0
    /// Stream offset of `buffer[0]`.
    private var bufferBase = 0

    private var resolver: RecordResolver
    private var failure: WireFormatError?

    public init(limits: DecoderLimits = .default) {
        self.limits = limits
        self.resolver = RecordResolver(limits: limits)
    }

    /// Stream offset of the next byte to decode: the bytes consumed so far.
    public var bytesConsumed: Int { bufferBase + readIndex }

    /// Bytes fed but not yet decoded.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Bytes the input buffer holds allocated (for tests of the memory bound).
    var retainedBufferCapacity: Int { buffer.capacity }

    /// The frames of interned stack `id`, if defined.
    public func stack(_ id: UInt64) -> StackDefinition? {
        guard id >= 1, id <= UInt64(resolver.stacks.count) else { return nil }
        return resolver.stacks[Int(id - 1)]
    }

    /// Appends bytes received from the stream.
    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            buffer.removeSubrange(..<readIndex)
            bufferBase += readIndex
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete record, or `nil` when more bytes are needed.
    public mutating func next() throws(WireFormatError) -> Record? {
        if let failure { throw failure }
        do {
            return try hasHeader ? decodeRecord() : decodeHeader()
        } catch {
            failure = error
            throw error
        }
    }

    /// Declares the end of the input: throws if it stopped inside the header or a record.
    public mutating func finish() throws(WireFormatError) {
        if let failure { throw failure }
        if !hasHeader || readIndex < buffer.count {
            let kind: WireFormatError.Kind = reachedEndOfStream ? .dataAfterEndOfStream : .truncated
            let error = WireFormatError(kind: kind, recordType: hasHeader ? pendingRecordType() : nil,
                                        offset: bytesConsumed)
            failure = error
            throw error
        }
    }

    // MARK: Header

    private mutating func decodeHeader() throws(WireFormatError) -> Record? {
        let magic = StreamHeader.magic
        let available = buffer.count - readIndex
        for i in 0..<min(available, magic.count) where buffer[readIndex + i] != magic[i] {
            throw WireFormatError(kind: .badMagic, recordType: nil, offset: bufferBase + readIndex)
        }
        guard available > magic.count else { return nil }

        let start = readIndex
        var cursor = start + magic.count
        func fail(_ kind: WireFormatError.Kind) -> WireFormatError {
            WireFormatError(kind: kind, recordType: nil, offset: bufferBase + start)
        }
        guard let version = try peekVarint(at: &cursor).get(orThrow: fail) else { return nil }
        guard version == StreamHeader.currentVersion else { throw fail(.unsupportedVersion(version)) }
        guard let length = try peekVarint(at: &cursor).get(orThrow: fail) else { return nil }
        guard length <= UInt64(limits.maximumRecordLength) else {
            throw fail(.limitExceeded(what: "header length", value: length, limit: UInt64(limits.maximumRecordLength)))
        }
        guard buffer.count - cursor >= Int(length) else { return nil }

        let limits = self.limits
        let decoded = buffer.withUnsafeBytes { raw -> Result<StreamHeader, WireFormatError.Kind> in
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[cursor..<cursor + Int(length)]))
            return Result { () throws(WireFormatError.Kind) in
                try StreamHeader.decodeBody(&reader, version: version, limits: limits)
            }
        }
        let header: StreamHeader
        switch decoded {
        case .success(let value): header = value
        case .failure(let kind): throw fail(kind)
        }
        readIndex = cursor + Int(length)
        self.header = header
        resolver.previousSampleTime = header.clock.monotonicNanoseconds
        return .header(header)
    }

    // MARK: Records

    private mutating func decodeRecord() throws(WireFormatError) -> Record? {
        guard readIndex < buffer.count else { return nil }
        let start = readIndex
        var cursor = start
        var typeForError: UInt64?
        func fail(_ kind: WireFormatError.Kind) -> WireFormatError {
            WireFormatError(kind: kind, recordType: typeForError, offset: bufferBase + start)
        }
        if resolver.reachedEndOfStream {
            // Wait for the type, so that chunking never changes the error.
            switch peekVarint(at: &cursor) {
            case .success(nil): return nil
            case .success(let type?): typeForError = type
            case .failure: break
            }
            throw fail(.dataAfterEndOfStream)
        }
        guard let type = try peekVarint(at: &cursor).get(orThrow: fail) else { return nil }
        typeForError = type
        guard let length = try peekVarint(at: &cursor).get(orThrow: fail) else { return nil }
        guard length <= UInt64(limits.maximumRecordLength) else {
            throw fail(.limitExceeded(what: "record length", value: length, limit: UInt64(limits.maximumRecordLength)))
        }
        guard buffer.count - cursor >= Int(length) else { return nil }
        let payloadStart = cursor
        let payloadEnd = cursor + Int(length)

        // A local reference to the buffer (one retain), so that the resolver
        // can be mutated in place while the bytes are borrowed.
        let bytes = buffer
        // `withUnsafeBytes` rethrows untyped errors: the result travels as a value.
        let result = bytes.withUnsafeBytes { raw -> Result<Record, WireFormatError.Kind> in
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[payloadStart..<payloadEnd]))
            do throws(WireFormatError.Kind) {
                return .success(try resolver.decodePayload(type: type, length: Int(length), reader: &reader))
            } catch {
                return .failure(error)
            }
        }
        let record: Record
        switch result {
        case .success(let decoded): record = decoded
        case .failure(let kind): throw fail(kind)
        }
        readIndex = payloadEnd
        return record
    }

    // MARK: Helpers

    /// Reads a varint at `cursor` in the buffer: `.success(nil)` if the buffer
    /// ends first, `.failure` if it is longer than 64 bits.
    private func peekVarint(at cursor: inout Int) -> Result<UInt64?, WireFormatError.Kind> {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var index = cursor
        while index < buffer.count {
            let byte = buffer[index]
            index += 1
            if shift == 63 && byte > 1 { return .failure(.malformedVarint) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                cursor = index
                return .success(result)
            }
            shift += 7
            if shift > 63 { return .failure(.malformedVarint) }
        }
        return .success(nil)
    }

    /// The type code of the record the input stopped in, if its first byte arrived.
    private func pendingRecordType() -> UInt64? {
        var cursor = readIndex
        if case .success(let type?) = peekVarint(at: &cursor) { return type }
        return nil
    }
}

extension Result where Success == UInt64?, Failure == WireFormatError.Kind {
    /// The value, or the error made by `wrap` from the failure.
    fileprivate func get(orThrow wrap: (WireFormatError.Kind) -> WireFormatError) throws(WireFormatError) -> UInt64? {
        switch self {
        case .success(let value): return value
        case .failure(let kind): throw wrap(kind)
        }
    }
}

/// The decoder's interning tables and sample clock: resolves definitions and
/// references record by record.
struct RecordResolver {
    let limits: DecoderLimits
    var stacks: [StackDefinition] = []
    var threads: [ThreadDefinition] = []
    var internedFrames = 0
    var previousSampleTime: UInt64 = 0
    var reachedEndOfStream = false

    init(limits: DecoderLimits) {
        self.limits = limits
    }

    mutating func decodePayload(type: UInt64, length: Int,
                                        reader: inout ByteReader) throws(WireFormatError.Kind) -> Record {
        guard let known = RecordType(rawValue: type) else { return .unknown(type: type, length: length) }
        switch known {
        case .sample:
            return .sample(try resolve(reader.readSampleReference()))
        case .stackDefinition:
            let definition = try reader.readStackDefinition(limits: limits)
            let expected = UInt64(stacks.count) + 1
            guard definition.id == expected else {
                throw .unexpectedDefinitionID(expected: expected, found: definition.id)
            }
            guard stacks.count < limits.maximumStacks else {
                throw .limitExceeded(what: "interned stacks", value: expected, limit: UInt64(limits.maximumStacks))
            }
            guard internedFrames + definition.frames.count <= limits.maximumInternedFrames else {
                throw .limitExceeded(what: "interned frames", value: UInt64(internedFrames + definition.frames.count),
                                     limit: UInt64(limits.maximumInternedFrames))
            }
            internedFrames += definition.frames.count
            stacks.append(definition)
            return .stackDefinition(definition)
        case .threadDefinition:
            let definition = try reader.readThreadDefinition()
            let expected = UInt64(threads.count) + 1
            guard definition.id == expected else {
                throw .unexpectedDefinitionID(expected: expected, found: definition.id)
            }
            guard threads.count < limits.maximumThreads else {
                throw .limitExceeded(what: "interned threads", value: expected, limit: UInt64(limits.maximumThreads))
            }
            threads.append(definition)
            return .threadDefinition(definition)
        case .resetInterning:
            stacks.removeAll()
            threads.removeAll()
            internedFrames = 0
            return .resetInterning
        case .process:
            return .process(try reader.readProcess(limits: limits))
        case .mappings:
            return .mappings(try reader.readMappings(limits: limits))
        case .processExit:
            return .processExit(try reader.readProcessExit())
        case .kernelSymbols:
            return .kernelSymbols(try reader.readKernelSymbols(limits: limits))
        case .kernelModules:
            return .kernelModules(try reader.readKernelModules(limits: limits))
        case .statistics:
            return .statistics(try reader.readStatistics(limits: limits))
        case .unwindTablesEvicted:
            return .unwindTablesEvicted(try reader.readUnwindTablesEvicted(limits: limits))
        case .fileDescriptor:
            return .fileDescriptor(try reader.readFileDescriptorAnswer())
        case .cpythonCode:
            return .cpythonCode(try reader.readCPythonCode())
        case .hotspotMethod:
            return .hotspotMethod(try reader.readHotSpotMethod())
        case .hotspotCode:
            return .hotspotCode(try reader.readHotSpotCode())
        case .perlSub:
            return .perlSub(try reader.readPerlSub())
        case .rubyISeq:
            return .rubyISeq(try reader.readRubyISeq())
        case .phpFunction:
            return .phpFunction(try reader.readPHPFunction())
        case .v8Function:
            return .v8Function(try reader.readV8Function())
        case .v8Code:
            return .v8Code(try reader.readV8Code())
        case .beamFunction:
            return .beamFunction(try reader.readBEAMFunction())
        case .endOfStream:
            reachedEndOfStream = true
            return .endOfStream(try reader.readEndOfStream())
        }
    }

    @inline(__always)
    private mutating func resolve(_ reference: SampleReference) throws(WireFormatError.Kind) -> Sample {
        guard reference.thread >= 1, reference.thread <= UInt64(threads.count) else {
            throw .undefinedReference(what: "thread", id: reference.thread)
        }
        let thread = threads[Int(reference.thread - 1)]
        let kernel = try stackFrames(reference.kernelStack, kind: .kernel)
        let user = try stackFrames(reference.userStack, kind: .user)
        let interpreter = try interpreterFrames(reference.interpreterStack)
        previousSampleTime = previousSampleTime &+ UInt64(bitPattern: reference.timeDelta)
        return Sample(time: previousSampleTime, pid: thread.pid, tid: thread.tid, cpu: reference.cpu,
                      kernelStackID: reference.kernelStack, userStackID: reference.userStack,
                      kernelStack: kernel, userStack: user, flags: reference.flags,
                      interpreterStackID: reference.interpreterStack, interpreterStack: interpreter.frames,
                      interpreterStackKind: interpreter.kind, interpreterFlags: reference.interpreterFlags,
                      threadName: thread.name, offCPUNanoseconds: reference.offCPUNanoseconds)
    }

    private static func name(of kind: StackKind) -> String {
        switch kind {
        case .kernel: "kernel stack"
        case .user: "user stack"
        case .cpython: "cpython stack"
        case .hotspot: "hotspot stack"
        case .perl: "perl stack"
        case .ruby: "ruby stack"
        case .php: "php stack"
        case .v8: "v8 stack"
        case .beam: "beam stack"
        }
    }

    /// The frames of a sample's interpreter stack, of whichever runtime's kind it was defined.
    @inline(__always)
    private func interpreterFrames(_ id: UInt64) throws(WireFormatError.Kind) -> (frames: [UInt64], kind: StackKind?) {
        if id == 0 { return ([], nil) }
        guard id <= UInt64(stacks.count) else {
            throw .undefinedReference(what: "interpreter stack", id: id)
        }
        let stack = stacks[Int(id - 1)]
        guard stack.kind.isInterpreter else {
            throw .valueOutOfRange(field: "interpreter stack id", value: id)
        }
        return (stack.frames, stack.kind)
    }

    @inline(__always)
    private func stackFrames(_ id: UInt64, kind: StackKind) throws(WireFormatError.Kind) -> [UInt64] {
        if id == 0 { return [] }
        guard id <= UInt64(stacks.count) else {
            throw .undefinedReference(what: Self.name(of: kind), id: id)
        }
        let stack = stacks[Int(id - 1)]
        guard stack.kind == kind else {
            throw .valueOutOfRange(field: Self.name(of: kind) + " id", value: id)
        }
        return stack.frames
    }
}
