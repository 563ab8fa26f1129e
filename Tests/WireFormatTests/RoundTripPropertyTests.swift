import Testing
@testable import StreamDecoding
@testable import WireFormat

/// Random streams of every record type, from seeded generators, decode to what was encoded.
@Suite struct RoundTripPropertyTests {
    static let seeds: [UInt64] = [1, 2, 3, 0xDEAD_BEEF, 0x5EED_0005, 6, 7, 8]

    @Test(arguments: seeds)
    func randomStreamsDecodeToTheirInput(seed: UInt64) throws {
        var generator = StreamInputGenerator(seed: seed)
        let inputs = generator.inputs(count: 400)
        let bytes = encode(inputs)
        let decoded = decodeChunked(bytes, chunkSizes: [4096])
        #expect(decoded.error == nil)
        #expect(decoded.records.first == .header(testHeader))
        #expect(content(of: decoded.records) == inputs)
    }

    @Test(arguments: seeds)
    func chunkSizesDoNotChangeTheResult(seed: UInt64) throws {
        var generator = StreamInputGenerator(seed: seed)
        let bytes = encode(generator.inputs(count: 150))
        let whole = decodeChunked(bytes, chunkSizes: [bytes.count])
        #expect(whole.error == nil)
        var random = SeededGenerator(seed: seed)
        let randomSizes = (0..<64).map { _ in Int.random(in: 1...300, using: &random) }
        for sizes in [[1], [2], [7], randomSizes] {
            let chunked = decodeChunked(bytes, chunkSizes: sizes)
            #expect(chunked.error == nil, "chunk sizes \(sizes.prefix(3))")
            #expect(chunked.records == whole.records, "chunk sizes \(sizes.prefix(3))")
        }
    }

    @Test(arguments: seeds)
    func sampleStackIDsMatchTheirDefinitions(seed: UInt64) throws {
        var generator = StreamInputGenerator(seed: seed)
        let bytes = encode(generator.inputs(count: 300))
        var decoder = StreamDecoder()
        decoder.feed(bytes)
        var stacks: [UInt64: StackDefinition] = [:]
        while let record = try decoder.next() {
            switch record {
            case .stackDefinition(let definition):
                stacks[definition.id] = definition
                #expect(decoder.stack(definition.id) == definition)
            case .resetInterning:
                stacks.removeAll()
                #expect(decoder.stack(1) == nil)
            case .sample(let sample):
                #expect(sample.kernelStackID == 0 ? sample.kernelStack.isEmpty : stacks[sample.kernelStackID]?.frames == sample.kernelStack)
                #expect(sample.userStackID == 0 ? sample.userStack.isEmpty : stacks[sample.userStackID]?.frames == sample.userStack)
                #expect(stacks[sample.kernelStackID].map { $0.kind == .kernel } ?? true)
                #expect(stacks[sample.userStackID].map { $0.kind == .user } ?? true)
            default:
                break
            }
        }
        try decoder.finish()
        #expect(decoder.reachedEndOfStream)
        #expect(decoder.bytesConsumed == bytes.count)
    }

    /// Small interning tables force resets; a decoder with the same limits keeps decoding.
    @Test(arguments: seeds)
    func interningResetsKeepTheStreamDecodable(seed: UInt64) throws {
        var generator = StreamInputGenerator(seed: seed)
        let inputs = generator.inputs(count: 400).filter { if case .record(.resetInterning) = $0 { false } else { true } }
        let encoderLimits = EncoderLimits(maximumStacks: 6, maximumInternedFrames: 90, maximumThreads: 3, maximumFramesPerStack: 40)
        var encoder = StreamEncoder(header: testHeader, limits: encoderLimits)
        for case .sample(let sample) in inputs {
            encoder.appendSample(time: sample.time, pid: sample.pid, tid: sample.tid, cpu: sample.cpu,
                                 kernelStack: sample.kernelStack, userStack: sample.userStack, flags: sample.flags)
        }
        #expect(encoder.interningResets > 0)
        let decoderLimits = DecoderLimits(maximumStacks: 6, maximumInternedFrames: 90, maximumThreads: 3)
        let decoded = decodeChunked(encoder.takeBytes(), chunkSizes: [5], limits: decoderLimits)
        #expect(decoded.error == nil)
        let samples = content(of: decoded.records).filter { if case .sample = $0 { true } else { false } }
        let expected: [StreamInput] = inputs.compactMap { input in
            guard case .sample(var sample) = input else { return nil }
            // Stacks cut to maximumInternedFrames / 2 = 45 frames; user stacks flag it.
            if sample.userStack.count > 45 { sample.userStack = Array(sample.userStack.prefix(45)); sample.flags.insert(.userStackTruncated) }
            sample.kernelStack = Array(sample.kernelStack.prefix(45))
            return .sample(sample)
        }
        #expect(samples == expected)
        #expect(decoded.records.filter { $0 == .resetInterning }.count == encoder.interningResets)
    }

    @Test func headerRoundTripsAndConvertsTime() throws {
        let records = decodeChunked(encode([]), chunkSizes: [1]).records
        #expect(records == [.header(testHeader)])
        let clock = testHeader.clock
        #expect(clock.unixNanoseconds(ofMonotonic: clock.monotonicNanoseconds + 5) == clock.realtimeNanoseconds + 5)
        #expect(clock.unixNanoseconds(ofMonotonic: clock.monotonicNanoseconds - 5) == clock.realtimeNanoseconds - 5)
        #expect(ClockReference(monotonicNanoseconds: 100, realtimeNanoseconds: 10).unixNanoseconds(ofMonotonic: 0) == 0)
    }

    @Test func primitiveEncodingsRoundTrip() throws {
        var random = SeededGenerator(seed: 99)
        var values: [UInt64] = [0, 1, 127, 128, 16383, 16384, UInt64.max, UInt64.max - 1, 1 << 63]
        values += (0..<500).map { _ in random.next() >> UInt64.random(in: 0...63, using: &random) }
        var writer = ByteWriter()
        for value in values {
            writer.writeVarint(value)
            writer.writeSigned(Int64(bitPattern: value))
            #expect(varintSize(value) == varint(value).count)
        }
        try writer.bytes.withUnsafeBytes { (raw) throws -> Void in
            var reader = ByteReader(raw)
            for value in values {
                #expect(try reader.readVarint() == value)
                #expect(try reader.readSigned() == Int64(bitPattern: value))
            }
            #expect(reader.isAtEnd)
        }
        #expect(ZigZag.encode(-1) == 1 && ZigZag.encode(1) == 2 && ZigZag.encode(.min) == .max)
    }
}
