// The payload of each record type, written (the sampler's side). The readers are in
// StreamDecoding/RecordDecoding.swift, in the same order; docs/wire-format.md is the spec.

extension ByteWriter {
    mutating func writeStackDefinition(id: UInt64, kind: StackKind, frames: some Collection<UInt64>) {
        writeVarint(id)
        writeVarint(kind.rawValue)
        writeVarint(UInt64(frames.count))
        var previous: UInt64 = 0
        for address in frames {
            writeSigned(ZigZag.delta(address, from: previous))
            previous = address
        }
    }

    mutating func writeThreadDefinition(_ thread: ThreadDefinition) {
        writeVarint(thread.id)
        writeInt32(thread.pid)
        writeSigned(Int64(thread.tid) - Int64(thread.pid))
        // Appended field: a definition without it (older streams) has no name.
        if !thread.name.isEmpty { writeString(thread.name.truncatedUTF8(to: ThreadName.maximumLength)) }
    }

    /// Fields after the thread are written only up to the last non-zero one:
    /// a user-mode sample without flags ends after its user stack id.
    @inline(__always)
    mutating func writeSampleReference(timeDelta: Int64, thread: UInt64, cpu: UInt32, kernelStack: UInt64,
                                       userStack: UInt64, flags: SampleFlags, interpreterStack: UInt64 = 0,
                                       interpreterFlags: UInt32 = 0, offCPUNanoseconds: UInt64 = 0) {
        writeSigned(timeDelta)
        writeVarint(thread)
        // How many of the optional fields (cpu ... off-CPU time) to write.
        let count = offCPUNanoseconds != 0 ? 7 : interpreterFlags != 0 ? 6 : interpreterStack != 0 ? 5
            : flags.rawValue != 0 ? 4 : kernelStack != 0 ? 3 : userStack != 0 ? 2 : cpu != 0 ? 1 : 0
        if count >= 1 { writeVarint(cpu) }
        if count >= 2 { writeVarint(userStack) }
        if count >= 3 { writeVarint(kernelStack) }
        if count >= 4 { writeVarint(flags.rawValue) }
        if count >= 5 { writeVarint(interpreterStack) }
        if count >= 6 { writeVarint(UInt64(interpreterFlags)) }
        if count >= 7 { writeVarint(offCPUNanoseconds) }
    }

    mutating func writeProcess(_ process: ProcessInfo, limits: EncoderLimits) {
        writeInt32(process.pid)
        writeInt32(process.parentPID)
        writeVarint(process.startTime)
        writeString(process.comm.truncatedUTF8(to: limits.maximumStringLength))
        writeString(process.executablePath.truncatedUTF8(to: limits.maximumStringLength))
        writeString(process.cgroupPath.truncatedUTF8(to: limits.maximumStringLength))
        writeVarint(process.isExec ? 1 : 0)
    }

    mutating func writeMapping(_ mapping: Mapping, previousEnd: UInt64, limits: EncoderLimits) {
        writeSigned(ZigZag.delta(mapping.start, from: previousEnd))
        writeVarint(mapping.end &- mapping.start)
        writeVarint(mapping.fileOffset)
        writeVarint(mapping.device)
        writeVarint(mapping.inode)
        writeString(mapping.path.truncatedUTF8(to: limits.maximumStringLength))
    }

    mutating func writeProcessExit(_ exit: ProcessExit) {
        writeInt32(exit.pid)
        writeVarint(exit.time)
    }

    /// One entry of a kernel symbols record; `previous` is the address of the entry before.
    mutating func writeKernelSymbol(_ symbol: KernelSymbol, previous: UInt64, limits: EncoderLimits) {
        writeSigned(ZigZag.delta(symbol.address, from: previous))
        writeVarint(symbol.type & 0x7F)
        writeString(symbol.name.truncatedUTF8(to: limits.maximumStringLength))
        writeString(symbol.module.truncatedUTF8(to: limits.maximumStringLength))
    }

    /// One entry of a kernel modules record.
    mutating func writeKernelModule(_ module: KernelModule, limits: EncoderLimits) {
        writeString(module.name.truncatedUTF8(to: limits.maximumStringLength))
        writeVarint(module.start)
        writeVarint(module.size)
    }

    mutating func writeStatistics(_ statistics: SamplerStatistics) {
        writeVarint(statistics.time)
        writeVarint(UInt64(statistics.counters.count))
        for (counter, value) in statistics.counters {
            writeVarint(counter.rawValue)
            writeVarint(value)
        }
    }

    mutating func writeUnwindTablesEvicted(_ evicted: UnwindTablesEvicted) {
        writeVarint(UInt64(evicted.tableIDs.count))
        for id in evicted.tableIDs { writeVarint(UInt64(id)) }
    }

    mutating func writeFileDescriptorAnswer(_ answer: FileDescriptorAnswer) {
        writeInt32(answer.pid)
        writeVarint(answer.start)
        writeVarint(answer.device)
        writeVarint(answer.inode)
        writeVarint(answer.status.rawValue)
        writeVarint(answer.errorNumber)
    }

    mutating func writeEndOfStream(_ end: EndOfStream) {
        writeVarint(end.time)
        writeVarint(end.reason.rawValue)
    }
}
