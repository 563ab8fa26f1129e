import WireFormat

// The payload of each record type, read (the aggregator's side). The writers are in
// WireFormat/RecordCoding.swift, in the same order; docs/wire-format.md is the spec.

/// A sample as it is on the wire, before its references are resolved.
struct SampleReference {
    var timeDelta: Int64
    var thread: UInt64
    var cpu: UInt32
    var kernelStack: UInt64
    var userStack: UInt64
    var flags: SampleFlags
    var interpreterStack: UInt64
    var interpreterFlags: UInt32
    var offCPUNanoseconds: UInt64
}

extension ByteReader {
    mutating func readStackDefinition(limits: DecoderLimits) throws(WireFormatError.Kind) -> StackDefinition {
        let id = try readVarint()
        let rawKind = try readVarint()
        guard let kind = StackKind(rawValue: rawKind) else {
            throw .valueOutOfRange(field: "stack kind", value: rawKind)
        }
        let count = try readCount("frame count", limit: limits.maximumFramesPerStack)
        var frames = [UInt64]()
        frames.reserveCapacity(count)
        var previous: UInt64 = 0
        for _ in 0..<count {
            previous = previous &+ UInt64(bitPattern: try readSigned())
            frames.append(previous)
        }
        if kind.isInterpreter, count % kind.wordsPerFrame != 0 {
            throw .valueOutOfRange(field: "interpreter frame words", value: UInt64(count))
        }

        return StackDefinition(id: id, kind: kind, frames: frames)
    }

    mutating func readThreadDefinition() throws(WireFormatError.Kind) -> ThreadDefinition {
        let id = try readVarint()
        let pid = try readInt32("pid")
        let tidDelta = try readSigned()
        let tid = Int64(pid) &+ tidDelta
        guard let tid32 = Int32(exactly: tid) else {
            throw .valueOutOfRange(field: "tid", value: UInt64(bitPattern: tid))
        }
        // Appended field (optional): the thread's name.
        let name = remaining > 0 ? try readString(limit: ThreadName.maximumLength) : ""
        return ThreadDefinition(id: id, pid: pid, tid: tid32, name: name)
    }

    /// Fields missing at the end of the payload are 0 (see `writeSampleReference`).
    @inline(__always)
    mutating func readSampleReference() throws(WireFormatError.Kind) -> SampleReference {
        let timeDelta = try readSigned()
        let thread = try readVarint()
        let cpu = isAtEnd ? 0 : try readUInt32("cpu")
        let userStack = isAtEnd ? 0 : try readVarint()
        let kernelStack = isAtEnd ? 0 : try readVarint()
        let flags = isAtEnd ? 0 : try readVarint()
        let interpreterStack = isAtEnd ? 0 : try readVarint()
        let interpreterFlags = isAtEnd ? 0 : try readUInt32("interpreter flags")
        let offCPUNanoseconds = isAtEnd ? 0 : try readVarint()
        return SampleReference(timeDelta: timeDelta, thread: thread, cpu: cpu, kernelStack: kernelStack,
                               userStack: userStack, flags: SampleFlags(rawValue: flags), interpreterStack: interpreterStack,
                               interpreterFlags: interpreterFlags, offCPUNanoseconds: offCPUNanoseconds)
    }

    mutating func readProcess(limits: DecoderLimits) throws(WireFormatError.Kind) -> ProcessInfo {
        let pid = try readInt32("pid")
        let parent = try readInt32("parent pid")
        let start = try readVarint()
        let comm = try readString(limit: limits.maximumStringLength)
        let exe = try readString(limit: limits.maximumStringLength)
        let cgroup = try readString(limit: limits.maximumStringLength)
        let exec = try readVarint()
        guard exec <= 1 else { throw .valueOutOfRange(field: "exec flag", value: exec) }
        return ProcessInfo(pid: pid, parentPID: parent, startTime: start, comm: comm, executablePath: exe,
                           cgroupPath: cgroup, isExec: exec == 1)
    }

    mutating func readMappings(limits: DecoderLimits) throws(WireFormatError.Kind) -> Mappings {
        let pid = try readInt32("pid")
        // A mapping takes at least 6 bytes: five varints and an empty string.
        let count = try readCount("mapping count", limit: limits.maximumListLength, minimumEntrySize: 6)
        var mappings = [Mapping]()
        mappings.reserveCapacity(count)
        var previousEnd: UInt64 = 0
        for _ in 0..<count {
            let start = previousEnd &+ UInt64(bitPattern: try readSigned())
            let length = try readVarint()
            let (end, overflow) = start.addingReportingOverflow(length)
            guard !overflow else { throw .valueOutOfRange(field: "mapping length", value: length) }
            let offset = try readVarint()
            let device = try readVarint()
            let inode = try readVarint()
            let path = try readString(limit: limits.maximumStringLength)
            mappings.append(Mapping(start: start, end: end, fileOffset: offset, device: device, inode: inode, path: path))
            previousEnd = end
        }
        return Mappings(pid: pid, mappings: mappings)
    }

    mutating func readUnwindTablesEvicted(limits: DecoderLimits) throws(WireFormatError.Kind) -> UnwindTablesEvicted {
        let count = try readCount("evicted table count", limit: limits.maximumListLength, minimumEntrySize: 1)
        var ids: [UInt32] = []
        ids.reserveCapacity(count)
        for _ in 0..<count {
            let id = try readVarint()
            guard id >= 1, id <= UInt64(UInt32.max) else { throw .valueOutOfRange(field: "unwind table id", value: id) }
            ids.append(UInt32(id))
        }
        return UnwindTablesEvicted(tableIDs: ids)
    }

    mutating func readProcessExit() throws(WireFormatError.Kind) -> ProcessExit {
        ProcessExit(pid: try readInt32("pid"), time: try readVarint())
    }

    mutating func readKernelSymbols(limits: DecoderLimits) throws(WireFormatError.Kind) -> KernelSymbols {
        let count = try readCount("kernel symbol count", limit: limits.maximumListLength, minimumEntrySize: 4)
        var symbols = [KernelSymbol]()
        symbols.reserveCapacity(count)
        var previous: UInt64 = 0
        for _ in 0..<count {
            previous = previous &+ UInt64(bitPattern: try readSigned())
            let rawType = try readVarint()
            guard rawType <= 0x7F else { throw .valueOutOfRange(field: "kernel symbol type", value: rawType) }
            let name = try readString(limit: limits.maximumStringLength)
            let module = try readString(limit: limits.maximumStringLength)
            symbols.append(KernelSymbol(address: previous, type: UInt8(rawType), name: name, module: module))
        }
        return KernelSymbols(symbols: symbols)
    }

    mutating func readKernelModules(limits: DecoderLimits) throws(WireFormatError.Kind) -> KernelModules {
        let count = try readCount("kernel module count", limit: limits.maximumListLength, minimumEntrySize: 3)
        var modules = [KernelModule]()
        modules.reserveCapacity(count)
        for _ in 0..<count {
            let name = try readString(limit: limits.maximumStringLength)
            modules.append(KernelModule(name: name, start: try readVarint(), size: try readVarint()))
        }
        return KernelModules(modules: modules)
    }

    mutating func readStatistics(limits: DecoderLimits) throws(WireFormatError.Kind) -> SamplerStatistics {
        let time = try readVarint()
        let count = try readCount("counter count", limit: limits.maximumListLength, minimumEntrySize: 2)
        var pairs: [(StatisticsCounter, UInt64)] = []
        pairs.reserveCapacity(count)
        for _ in 0..<count {
            let counter = StatisticsCounter(rawValue: try readVarint())
            pairs.append((counter, try readVarint()))
        }
        return SamplerStatistics(time: time, counters: StatisticsCounters(pairs: pairs))
    }

    mutating func readFileDescriptorAnswer() throws(WireFormatError.Kind) -> FileDescriptorAnswer {
        let pid = try readInt32("pid")
        let start = try readVarint()
        let device = try readVarint()
        let inode = try readVarint()
        let status = FileDescriptorStatus(rawValue: try readVarint())
        let errorNumber = try readUInt32("error number")
        return FileDescriptorAnswer(pid: pid, start: start, device: device, inode: inode, status: status,
                                    errorNumber: errorNumber)
    }

    mutating func readEndOfStream() throws(WireFormatError.Kind) -> EndOfStream {
        let time = try readVarint()
        let raw = try readVarint()
        // A reason this version does not know is still an end of stream.
        return EndOfStream(time: time, reason: EndOfStream.Reason(rawValue: raw) ?? .error)
    }
}

extension ByteReader {
    mutating func readCPythonCode() throws(WireFormatError.Kind) -> CPythonCodeRecord {
        let pid = try readInt32("pid")
        let code = try readVarint()
        let fingerprint = try readUInt32("fingerprint")
        let version = try readUInt32("python version")
        let flags = try readUInt32("code flags")
        var copies: [[UInt8]] = []
        for _ in 0..<5 {
            let count = try readCount("code copy length", limit: CPythonCodeRecord.maximumCopyBytes)
            copies.append(readBytes(count))
        }
        return CPythonCodeRecord(pid: pid, code: code, fingerprint: fingerprint, pythonVersion: version, flags: flags,
                           header: copies[0], name: copies[1], qualifiedName: copies[2], fileName: copies[3],
                           lineTable: copies[4])
    }

    mutating func readHotSpotMethod() throws(WireFormatError.Kind) -> HotSpotMethodRecord {
        let pid = try readInt32("pid")
        let method = try readVarint()
        let fingerprint = try readUInt32("fingerprint")
        let version = try readUInt32("jdk feature version")
        let flags = try readUInt32("method flags")
        var copies: [[UInt8]] = []
        for _ in 0..<5 {
            let count = try readCount("method copy length", limit: HotSpotMethodRecord.maximumCopyBytes)
            copies.append(readBytes(count))
        }
        return HotSpotMethodRecord(pid: pid, method: method, fingerprint: fingerprint, featureVersion: version, flags: flags,
                                   constMethod: copies[0], className: copies[1], methodName: copies[2],
                                   sourceFile: copies[3], lineTable: copies[4])
    }

    mutating func readHotSpotCode() throws(WireFormatError.Kind) -> HotSpotCodeRecord {
        let pid = try readInt32("pid")
        let code = try readVarint()
        let fingerprint = try readUInt32("fingerprint")
        let version = try readUInt32("jdk feature version")
        let flags = try readUInt32("code flags")
        let method = try readVarint()
        let methodFingerprint = try readUInt32("method fingerprint")
        let count = try readCount("metadata entries", limit: HotSpotCodeRecord.maximumMetadataEntries, minimumEntrySize: 2)
        var metadata: [HotSpotCodeRecord.Metadata] = []
        metadata.reserveCapacity(count)
        for _ in 0..<count {
            let entry = try readVarint()
            metadata.append(HotSpotCodeRecord.Metadata(address: entry, fingerprint: try readUInt32("metadata fingerprint")))
        }
        var copies: [[UInt8]] = []
        for _ in 0..<2 {
            let length = try readCount("code copy length", limit: HotSpotCodeRecord.maximumCopyBytes)
            copies.append(readBytes(length))
        }
        return HotSpotCodeRecord(pid: pid, code: code, fingerprint: fingerprint, featureVersion: version, flags: flags,
                                 method: method, methodFingerprint: methodFingerprint, metadata: metadata,
                                 pcDescs: copies[0], scopes: copies[1])
    }

    mutating func readRubyISeq() throws(WireFormatError.Kind) -> RubyISeqRecord {
        let pid = try readInt32("pid")
        let iseq = try readVarint()
        let fingerprint = try readUInt32("fingerprint")
        let version = try readUInt32("ruby version")
        let flags = try readUInt32("iseq flags")
        var copies: [[UInt8]] = []
        for _ in 0..<5 {
            let count = try readCount("iseq copy length", limit: RubyISeqRecord.maximumCopyBytes)
            copies.append(readBytes(count))
        }
        return RubyISeqRecord(pid: pid, iseq: iseq, fingerprint: fingerprint, rubyVersion: version, flags: flags,
                              body: copies[0], label: copies[1], path: copies[2], lineEntries: copies[3],
                              succinctTable: copies[4])
    }
}

extension ByteReader {
    mutating func readBEAMFunction() throws(WireFormatError.Kind) -> BEAMFunctionRecord {
        let pid = try readInt32("pid")
        let codeInfo = try readVarint()
        let module = try readVarint()
        let function = try readVarint()
        let arity = try readVarint()
        let major = try readUInt32("erts major")
        let flags = try readUInt32("function flags")
        let moduleCount = try readCount("beam module name length", limit: BEAMFunctionRecord.maximumNameBytes)
        let moduleName = readBytes(moduleCount)
        let functionCount = try readCount("beam function name length", limit: BEAMFunctionRecord.maximumNameBytes)
        let functionName = readBytes(functionCount)
        let addressCount = try readCount("beam line addresses length", limit: BEAMFunctionRecord.maximumLineAddressBytes)
        let lineAddresses = readBytes(addressCount)
        let locationSize = try readUInt32("beam location size")
        let locationCount = try readCount("beam locations length", limit: BEAMFunctionRecord.maximumLocationBytes)
        let locations = readBytes(locationCount)
        let fileIndex = try readUInt32("beam file index")
        let fileCount = try readCount("beam file name length", limit: BEAMFunctionRecord.maximumFileNameBytes)
        return BEAMFunctionRecord(pid: pid, codeInfo: codeInfo, module: module, function: function, arity: arity,
                                  ertsMajor: major, flags: flags, moduleName: moduleName, functionName: functionName,
                                  lineAddresses: lineAddresses, locationSize: locationSize, locations: locations,
                                  fileIndex: fileIndex, fileName: readBytes(fileCount))
    }

    mutating func readPHPFunction() throws(WireFormatError.Kind) -> PHPFunctionRecord {
        let pid = try readInt32("pid")
        let function = try readVarint()
        let fingerprint = try readUInt32("fingerprint")
        let version = try readUInt32("php version")
        let flags = try readUInt32("function flags")
        let kind = try readVarint()
        guard kind <= 0x3ff else { throw .valueOutOfRange(field: "php function type", value: kind) }
        let lineStart = try readUInt32("php line start")
        var copies: [[UInt8]] = []
        for _ in 0..<3 {
            let count = try readCount("php function copy length", limit: PHPFunctionRecord.maximumCopyBytes)
            copies.append(readBytes(count))
        }
        return PHPFunctionRecord(pid: pid, function: function, fingerprint: fingerprint, phpVersion: version,
                                 flags: flags, type: UInt8(kind & 0xff), hasName: kind & 0x100 != 0,
                                 hasClass: kind & 0x200 != 0, lineStart: lineStart, name: copies[0],
                                 className: copies[1], file: copies[2])
    }

    mutating func readPerlSub() throws(WireFormatError.Kind) -> PerlSubRecord {
        let pid = try readInt32("pid")
        let address = try readVarint()
        let fingerprint = try readUInt32("fingerprint")
        let version = try readUInt32("perl version")
        let flags = try readUInt32("sub flags")
        var copies: [[UInt8]] = []
        for _ in 0..<3 {
            let count = try readCount("sub copy length", limit: PerlSubRecord.maximumCopyBytes)
            copies.append(readBytes(count))
        }
        return PerlSubRecord(pid: pid, address: address, fingerprint: fingerprint, perlVersion: version, flags: flags,
                             name: copies[0], package: copies[1], file: copies[2])
    }
}

extension ByteReader {
    mutating func readV8Function() throws(WireFormatError.Kind) -> V8FunctionRecord {
        let pid = try readInt32("pid")
        let sharedFunctionInfo = try readVarint()
        let fingerprint = try readUInt32("fingerprint")
        let version = try readUInt32("v8 version")
        let flags = try readUInt32("function flags")
        let nameType = try readUInt32("name type")
        guard nameType <= UInt16.max else { throw .valueOutOfRange(field: "name type", value: UInt64(nameType)) }
        let scriptNameType = try readUInt32("script name type")
        guard scriptNameType <= UInt16.max else {
            throw .valueOutOfRange(field: "script name type", value: UInt64(scriptNameType))
        }
        var copies: [[UInt8]] = []
        // The fifth copy (the bytecode's position table) is absent from records of earlier samplers.
        for index in 0..<5 where index < 4 || remaining > 0 {
            let count = try readCount("function copy length", limit: V8FunctionRecord.maximumCopyBytes)
            copies.append(readBytes(count))
        }
        return V8FunctionRecord(pid: pid, sharedFunctionInfo: sharedFunctionInfo, fingerprint: fingerprint,
                                v8Version: version, flags: flags, nameType: UInt16(nameType),
                                scriptNameType: UInt16(scriptNameType), sharedFunctionInfoBytes: copies[0],
                                scopeInfoSlots: copies[1], name: copies[2], scriptName: copies[3],
                                bytecodePositionTable: copies.count > 4 ? copies[4] : [])
    }

    mutating func readV8Code() throws(WireFormatError.Kind) -> V8CodeRecord {
        let pid = try readInt32("pid")
        let instructionStart = try readVarint()
        let fingerprint = try readUInt32("fingerprint")
        let version = try readUInt32("v8 version")
        let code = try readVarint()
        let instructionSize = try readUInt32("instruction size")
        let codeKind = try readUInt32("code kind")
        guard codeKind <= UInt8.max else { throw .valueOutOfRange(field: "code kind", value: UInt64(codeKind)) }
        let flags = try readUInt32("code flags")
        let count = try readCount("inlined functions", limit: V8CodeRecord.maximumInlinedFunctions, minimumEntrySize: 2)
        var functions: [V8InlinedFunction] = []
        functions.reserveCapacity(count)
        for _ in 0..<count {
            let sharedFunctionInfo = try readVarint()
            functions.append(V8InlinedFunction(sharedFunctionInfo: sharedFunctionInfo,
                                               fingerprint: try readUInt32("inlined fingerprint")))
        }
        var copies: [[UInt8]] = []
        for _ in 0..<2 {
            let length = try readCount("code copy length", limit: V8CodeRecord.maximumCopyBytes)
            copies.append(readBytes(length))
        }
        return V8CodeRecord(pid: pid, instructionStart: instructionStart, fingerprint: fingerprint, v8Version: version,
                            code: code, instructionSize: instructionSize, codeKind: UInt8(codeKind), flags: flags,
                            inlinedFunctions: functions, inliningPositions: copies[0], sourcePositionTable: copies[1])
    }
}
