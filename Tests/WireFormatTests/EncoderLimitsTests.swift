import Testing
@testable import WireFormat

/// The encoder keeps every stream within the decoder's limits and its own memory bounded.
@Suite struct EncoderLimitsTests {
    @Test func longStringsAreCutOnACharacterBoundary() throws {
        // 4095 ASCII bytes then a 4-byte emoji: the emoji does not fit in 4096 bytes.
        let long = String(repeating: "a", count: 4095) + "😀" + String(repeating: "b", count: 100)
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.process(ProcessInfo(pid: 1, parentPID: 0, startTime: 0, comm: "c", executablePath: long, cgroupPath: "")))
        encoder.append(.mappings(Mappings(pid: 1, mappings: [Mapping(start: 1, end: 2, fileOffset: 0, device: 0, inode: 0, path: long)])))
        let records = decodeChunked(encoder.takeBytes(), chunkSizes: [4096])
        #expect(records.error == nil)
        guard case .process(let process) = records.records[1], case .mappings(let mappings) = records.records[2] else {
            Issue.record("unexpected records \(records.records)")
            return
        }
        #expect(process.executablePath == String(repeating: "a", count: 4095))
        #expect(mappings.mappings[0].path == String(repeating: "a", count: 4095))
        #expect("é€".truncatedUTF8(to: 4) == "é")
        #expect("é€".truncatedUTF8(to: 5) == "é€")
    }

    @Test func longStacksKeepTheirLeafSide() throws {
        let user = (0..<2000).map { UInt64($0) + 0x1000 }
        let kernel = (0..<1500).map { UInt64($0) + 0xFFFF_FFFF_8100_0000 }
        var encoder = StreamEncoder(header: testHeader)
        encoder.appendSample(time: 5, pid: 1, tid: 1, cpu: 0, kernelStack: kernel, userStack: user)
        encoder.appendSample(time: 6, pid: 1, tid: 1, cpu: 0, kernelStack: kernel.prefix(3), userStack: user.prefix(10))
        #expect(encoder.truncations == 2)
        let samples = decodeChunked(encoder.takeBytes(), chunkSizes: [4096]).records.compactMap {
            if case .sample(let sample) = $0 { sample } else { nil }
        }
        #expect(samples.count == 2)
        #expect(samples[0].userStack == Array(user.prefix(1024)))
        #expect(samples[0].kernelStack == Array(kernel.prefix(1024)))
        #expect(samples[0].flags == .userStackTruncated)
        #expect(samples[1].flags == [])
        #expect(samples[1].userStack == Array(user.prefix(10)))
    }

    @Test func longStacksFromAnyCollectionAreCutToo() throws {
        var encoder = StreamEncoder(header: testHeader)
        encoder.appendSample(time: 5, pid: 1, tid: 1, cpu: 0, kernelStack: (0..<3).lazy.map { UInt64($0) + 0xFFFF_FFFF_8100_0000 },
                             userStack: (0..<1_000_000).lazy.map { UInt64($0) * 16 })
        let samples = decodeChunked(encoder.takeBytes(), chunkSizes: [4096]).records.compactMap {
            if case .sample(let sample) = $0 { sample } else { nil }
        }
        #expect(samples.count == 1)
        #expect(samples.first?.userStack == (0..<1024).map { UInt64($0) * 16 })
        #expect(samples.first?.kernelStack == [0xFFFF_FFFF_8100_0000, 0xFFFF_FFFF_8100_0001, 0xFFFF_FFFF_8100_0002])
        #expect(samples.first?.flags == .userStackTruncated)
        #expect(encoder.truncations == 1)
    }

    @Test func kernelSymbolsAreChunked() throws {
        let symbols = (0..<10_000).map {
            KernelSymbol(address: 0xFFFF_FFFF_8100_0000 + UInt64($0) * 16, type: UInt8(ascii: "t"), name: "function_\($0)",
                         module: $0 % 7 == 0 ? "ext4" : "")
        }
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.kernelSymbols(KernelSymbols(symbols: symbols)))
        let chunks = decodeChunked(encoder.takeBytes(), chunkSizes: [4096]).records.compactMap {
            if case .kernelSymbols(let chunk) = $0 { chunk.symbols } else { nil }
        }
        #expect(chunks.map(\.count) == [4096, 4096, 1808])
        #expect(Array(chunks.joined()) == symbols)
    }

    /// Chunks also respect the record length, so that a decoder with the same limit reads them.
    @Test func kernelSymbolsAreChunkedByBytes() throws {
        let symbols = (0..<300).map { KernelSymbol(address: UInt64($0), type: UInt8(ascii: "T"), name: String(repeating: "x", count: 100)) }
        var encoder = StreamEncoder(header: testHeader, limits: EncoderLimits(maximumRecordLength: 2000))
        encoder.append(.kernelSymbols(KernelSymbols(symbols: symbols)))
        let decoded = decodeChunked(encoder.takeBytes(), chunkSizes: [4096], limits: DecoderLimits(maximumRecordLength: 2000))
        #expect(decoded.error == nil)
        let chunks = decoded.records.compactMap { if case .kernelSymbols(let chunk) = $0 { chunk.symbols } else { nil } }
        #expect(chunks.count > 10)
        #expect(Array(chunks.joined()) == symbols)
        #expect(encoder.truncations == 0)
    }

    @Test func emptyKernelSymbolListIsOneEmptyRecord() throws {
        var encoder = StreamEncoder(header: testHeader)
        encoder.append(.kernelSymbols(KernelSymbols(symbols: [])))
        #expect(decodeChunked(encoder.takeBytes(), chunkSizes: [9]).records.last == .kernelSymbols(KernelSymbols(symbols: [])))
    }

    @Test func listsAreCutToTheRecordLengthAndCounted() throws {
        let limits = EncoderLimits(maximumRecordLength: 1000)
        let mappings = (0..<100).map { Mapping(start: UInt64($0) << 20, end: UInt64($0) << 20 + 4096, fileOffset: 0, device: 1, inode: 2, path: "/usr/lib/libexample-\($0).so") }
        let modules = (0..<100).map { KernelModule(name: "module_number_\($0)", start: UInt64($0) << 30, size: 4096) }
        var encoder = StreamEncoder(header: testHeader, limits: limits)
        encoder.append(.mappings(Mappings(pid: 3, mappings: mappings)))
        encoder.append(.kernelModules(KernelModules(modules: modules)))
        #expect(encoder.truncations == 2)
        let decoded = decodeChunked(encoder.takeBytes(), chunkSizes: [4096], limits: DecoderLimits(maximumRecordLength: 1000))
        #expect(decoded.error == nil)
        guard case .mappings(let keptMappings) = decoded.records[1], case .kernelModules(let keptModules) = decoded.records[2] else {
            Issue.record("unexpected records \(decoded.records)")
            return
        }
        #expect(keptMappings.mappings.count > 10 && keptMappings.mappings.count < 100)
        #expect(keptMappings.mappings == Array(mappings.prefix(keptMappings.mappings.count)))
        #expect(keptModules.modules.count > 10 && keptModules.modules.count < 100)
        #expect(keptModules.modules == Array(modules.prefix(keptModules.modules.count)))
    }

    @Test func fullTablesResetInterningBeforeTheSampleThatNeedsRoom() throws {
        let limits = EncoderLimits(maximumStacks: 4, maximumInternedFrames: 1000, maximumThreads: 2)
        var encoder = StreamEncoder(header: testHeader, limits: limits)
        // Two stacks per sample: the third sample needs ids 5 and 6.
        for index in 0..<3 {
            encoder.appendSample(time: UInt64(index), pid: 1, tid: 1, cpu: 0, kernelStack: [UInt64(index) + 100], userStack: [UInt64(index)])
        }
        #expect(encoder.interningResets == 1)
        // A third thread does not fit either.
        encoder.appendSample(time: 4, pid: 1, tid: 2, cpu: 0, kernelStack: [], userStack: [2])
        encoder.appendSample(time: 5, pid: 1, tid: 3, cpu: 0, kernelStack: [], userStack: [2])
        #expect(encoder.interningResets == 2)
        let decoded = decodeChunked(encoder.takeBytes(), chunkSizes: [1], limits: DecoderLimits(maximumStacks: 4, maximumThreads: 2))
        #expect(decoded.error == nil)
        let types = decoded.records.dropFirst().map { $0.type! }
        #expect(types == [.stackDefinition, .stackDefinition, .threadDefinition, .sample,
                          .stackDefinition, .stackDefinition, .sample,
                          .resetInterning, .stackDefinition, .stackDefinition, .threadDefinition, .sample,
                          .threadDefinition, .sample,
                          .resetInterning, .stackDefinition, .threadDefinition, .sample])
    }

    @Test func explicitResetIsWrittenAndCounted() throws {
        var encoder = StreamEncoder(header: testHeader)
        encoder.appendSample(time: 1, pid: 1, tid: 1, cpu: 0, kernelStack: [], userStack: [1])
        encoder.resetInterning()
        encoder.appendSample(time: 2, pid: 1, tid: 1, cpu: 0, kernelStack: [], userStack: [1])
        #expect(encoder.interningResets == 1)
        let definitions = decodeChunked(encoder.takeBytes(), chunkSizes: [4096]).records.filter { $0.type == .stackDefinition }
        #expect(definitions.count == 2)
    }

    @Test func takeBytesEmptiesTheBuffer() {
        var encoder = StreamEncoder(header: testHeader)
        let header = encoder.takeBytes()
        #expect(header.prefix(4) == [0x54, 0x4E, 0x44, 0x4D])
        #expect(encoder.bufferedByteCount == 0)
        encoder.append(.processExit(ProcessExit(pid: 1, time: 2)))
        #expect(encoder.bufferedByteCount == 4)
        #expect(encoder.takeBytes() == [6, 2, 1, 2])
    }

    @Test func droppedSamplesStatisticsSumSaturates() {
        let statistics = SamplerStatistics(time: 0, counters: [.dropsRingBufferFull: .max, .dropsUserBufferFull: 5, .samplesSent: 9])
        #expect(statistics.totalDrops == .max)
        #expect(SamplerStatistics(time: 0, counters: [.dropsStackError: 2, .dropsDisconnected: 3, .samplesSent: 9]).totalDrops == 5)
        #expect("\(StatisticsCounter(rawValue: 77))" == "counter_77")
        #expect("\(StatisticsCounter.dropsRingBufferFull)" == "drops_ring_buffer_full")
    }
}

@Suite struct WireFormatErrorDescriptionTests {
    @Test(arguments: RecordType.allCases)
    func descriptionNamesTheRecordAndOffset(type: RecordType) {
        let error = WireFormatError(kind: .truncated, recordType: type.rawValue, offset: 1234)
        #expect(error.recordName == "\(type)")
        #expect(error.description == "malformed stream: \(type) at byte offset 1234: the data ends inside the record")
    }

    @Test func descriptionOfEveryKind() {
        let kinds: [(WireFormatError.Kind, String)] = [
            (.badMagic, "not a tandem stream"),
            (.unsupportedVersion(9), "format version 9 is not supported (this build reads version 1); upgrade the aggregator"),
            (.malformedVarint, "malformed varint"),
            (.invalidUTF8, "not valid UTF-8"),
            (.limitExceeded(what: "frame count", value: 5000, limit: 1024), "frame count 5000 exceeds the limit 1024"),
            (.valueOutOfRange(field: "pid", value: 1 << 33), "pid has the invalid value 8589934592"),
            (.unexpectedDefinitionID(expected: 2, found: 7), "definition id 7 where 2 was expected"),
            (.undefinedReference(what: "thread", id: 4), "thread id 4 was never defined"),
            (.dataAfterEndOfStream, "data after the end-of-stream record"),
        ]
        for (kind, text) in kinds {
            let error = WireFormatError(kind: kind, recordType: 3, offset: 77)
            #expect(error.description.hasPrefix("malformed stream: sample at byte offset 77: "))
            #expect(error.description.contains(text), "\(error)")
        }
        #expect(WireFormatError(kind: .truncated, recordType: 300, offset: 9).description.hasPrefix("malformed stream: record type 300 at byte offset 9"))
        #expect(WireFormatError(kind: .truncated, recordType: nil, offset: 0).recordName == "header")
        #expect(WireFormatError(kind: .truncated, recordType: nil, offset: 50).recordName == "record")
    }
}
