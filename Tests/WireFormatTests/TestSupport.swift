@testable import StreamDecoding
@testable import WireFormat

/// xorshift64*: seeded, so that every failure reproduces.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

/// Feeds `bytes` in chunks whose sizes come from `chunkSizes` (cycled), draining
/// after each; returns the records or the first error.
func decodeChunked(_ bytes: [UInt8], chunkSizes: [Int], limits: DecoderLimits = .default) -> (records: [Record], error: WireFormatError?) {
    var decoder = StreamDecoder(limits: limits)
    var records: [Record] = []
    var index = 0
    var turn = 0
    do {
        while index < bytes.count {
            let end = min(bytes.count, index + max(1, chunkSizes[turn % chunkSizes.count]))
            turn += 1
            decoder.feed(bytes[index..<end])
            while let record = try decoder.next() { records.append(record) }
            index = end
        }
        try decoder.finish()
    } catch {
        return (records, error)
    }
    return (records, nil)
}

/// The error `bytes` decode to, fed at once.
func decodingError(_ bytes: [UInt8], limits: DecoderLimits = .default) -> WireFormatError? {
    decodeChunked(bytes, chunkSizes: [bytes.count], limits: limits).error
}

/// What the test asks the encoder to write.
enum StreamInput: Equatable {
    case sample(Sample)
    case record(Record)
}

/// Random but valid stream content of every record type, within the default limits.
struct StreamInputGenerator {
    var random: SeededGenerator

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    mutating func string(maximumLength: Int = 24) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789/._-[]é€😀")
        let length = Int.random(in: 0...maximumLength, using: &random)
        return String((0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &random)] })
    }

    mutating func anyUInt64() -> UInt64 {
        // Mostly small values, sometimes any 64-bit value: both ends of the varint range.
        switch Int.random(in: 0..<4, using: &random) {
        case 0: UInt64.random(in: 0..<128, using: &random)
        case 1: UInt64.random(in: 0..<(1 << 32), using: &random)
        default: random.next()
        }
    }

    mutating func pid() -> Int32 {
        Bool.random(using: &random) ? Int32.random(in: 1...4_194_304, using: &random) : Int32.random(in: .min ... .max, using: &random)
    }

    mutating func stack(pool: inout [[UInt64]], kernel: Bool) -> [UInt64] {
        if !pool.isEmpty && Int.random(in: 0..<3, using: &random) > 0 {
            return pool[Int.random(in: 0..<pool.count, using: &random)]
        }
        let depth = Int.random(in: kernel ? 0...12 : 0...40, using: &random)
        let base: UInt64 = kernel ? 0xFFFF_FFFF_8100_0000 : 0x5555_0000_0000
        let stack = (0..<depth).map { _ in Bool.random(using: &random) ? base &+ UInt64.random(in: 0..<(1 << 24), using: &random) : random.next() }
        pool.append(stack)
        return stack
    }

    /// `count` inputs: samples (stacks drawn from a small pool so that they
    /// repeat) mixed with every other record type.
    mutating func inputs(count: Int) -> [StreamInput] {
        var userPool: [[UInt64]] = []
        var kernelPool: [[UInt64]] = []
        var threads: [(Int32, Int32)] = []
        var inputs: [StreamInput] = []
        for _ in 0..<count {
            switch Int.random(in: 0..<20, using: &random) {
            case 0..<12:
                if threads.isEmpty || Int.random(in: 0..<8, using: &random) == 0 {
                    let pid = pid()
                    threads.append((pid, Bool.random(using: &random) ? pid : self.pid()))
                }
                let (pid, tid) = threads[Int.random(in: 0..<threads.count, using: &random)]
                let flags = SampleFlags(rawValue: Bool.random(using: &random) ? 0 : anyUInt64())
                inputs.append(.sample(Sample(time: anyUInt64(), pid: pid, tid: tid, cpu: UInt32.random(in: 0...UInt32.max, using: &random) >> UInt32.random(in: 0...31, using: &random),
                                             kernelStack: stack(pool: &kernelPool, kernel: true),
                                             userStack: stack(pool: &userPool, kernel: false), flags: flags)))
            case 12:
                inputs.append(.record(.process(ProcessInfo(pid: pid(), parentPID: pid(), startTime: anyUInt64(), comm: string(maximumLength: 15),
                                                           executablePath: string(), cgroupPath: string(), isExec: Bool.random(using: &random)))))
            case 13:
                var previous = anyUInt64()
                let mappings = (0..<Int.random(in: 0...6, using: &random)).map { _ in
                    let start = Bool.random(using: &random) ? previous &+ 0x1000 : random.next()
                    let end = start &+ UInt64.random(in: 0...(UInt64.max - start), using: &random) >> UInt64.random(in: 0...63, using: &random)
                    previous = end
                    return Mapping(start: start, end: end, fileOffset: anyUInt64(), device: anyUInt64(), inode: anyUInt64(), path: string())
                }
                inputs.append(.record(.mappings(Mappings(pid: pid(), mappings: mappings))))
            case 14:
                inputs.append(.record(.processExit(ProcessExit(pid: pid(), time: anyUInt64()))))
            case 15:
                let symbols = (0..<Int.random(in: 0...8, using: &random)).map { _ in
                    KernelSymbol(address: anyUInt64(), type: UInt8.random(in: 0...0x7F, using: &random), name: string(), module: string(maximumLength: 6))
                }
                inputs.append(.record(.kernelSymbols(KernelSymbols(symbols: symbols))))
            case 16:
                let modules = (0..<Int.random(in: 0...4, using: &random)).map { _ in
                    KernelModule(name: string(maximumLength: 10), start: anyUInt64(), size: anyUInt64())
                }
                inputs.append(.record(.kernelModules(KernelModules(modules: modules))))
            case 17:
                var counters: StatisticsCounters = [:]
                for _ in 0..<Int.random(in: 0...12, using: &random) {
                    counters[StatisticsCounter(rawValue: UInt64.random(in: 1...14, using: &random))] = anyUInt64()
                }
                inputs.append(.record(.statistics(SamplerStatistics(time: anyUInt64(), counters: counters))))
            case 18:
                inputs.append(.record(.resetInterning))
            case 19:
                inputs.append(.record(.fileDescriptor(FileDescriptorAnswer(
                    pid: pid(), start: anyUInt64(), device: anyUInt64(), inode: anyUInt64(),
                    status: FileDescriptorStatus(rawValue: anyUInt64()), errorNumber: UInt32(truncatingIfNeeded: anyUInt64())))))
            default:
                // More samples instead of a second end of stream.
                continue
            }
        }
        let reasons: [EndOfStream.Reason] = [.finished, .shutdown, .error]
        inputs.append(.record(.endOfStream(EndOfStream(time: anyUInt64(), reason: reasons[Int.random(in: 0..<3, using: &random)]))))
        return inputs
    }
}

/// Encodes `inputs` after `header`.
func encode(_ inputs: [StreamInput], header: StreamHeader = testHeader, limits: EncoderLimits = .init()) -> [UInt8] {
    var encoder = StreamEncoder(header: header, limits: limits)
    for input in inputs {
        switch input {
        case .sample(let sample):
            encoder.appendSample(time: sample.time, pid: sample.pid, tid: sample.tid, cpu: sample.cpu,
                                 kernelStack: sample.kernelStack, userStack: sample.userStack, flags: sample.flags)
        case .record(let record):
            encoder.append(record)
        }
    }
    return encoder.takeBytes()
}

/// The decoded records that correspond to inputs: definitions dropped, sample ids cleared.
func content(of records: [Record]) -> [StreamInput] {
    records.compactMap { record in
        switch record {
        case .header, .stackDefinition, .threadDefinition, .unknown: return nil
        case .resetInterning: return .record(.resetInterning)
        case .sample(var sample):
            sample.kernelStackID = 0
            sample.userStackID = 0
            return .sample(sample)
        default: return .record(record)
        }
    }
}

/// Builds hand-made (possibly hostile) streams byte by byte.
struct RawStream {
    var writer = ByteWriter()

    /// Starts with a valid header (`testHeader`), or the given one.
    init(header: StreamHeader = testHeader) {
        writer.writeBytes(header.encoded(limits: .init()))
    }

    /// A stream that starts with raw bytes of its own (for header tests).
    init(raw: [UInt8]) {
        writer.writeBytes(raw)
    }

    var bytes: [UInt8] { writer.bytes }
    var count: Int { writer.count }

    /// Appends a record: type, the payload's length, payload.
    mutating func record(_ type: UInt64, _ build: (inout ByteWriter) -> Void) {
        var payload = ByteWriter()
        build(&payload)
        writer.writeVarint(type)
        writer.writeVarint(UInt64(payload.count))
        writer.writeBytes(payload.bytes)
    }

    mutating func record(_ type: RecordType, _ build: (inout ByteWriter) -> Void) {
        record(type.rawValue, build)
    }

    /// Appends raw bytes (e.g. a record header that lies about its length).
    mutating func raw(_ bytes: [UInt8]) { writer.writeBytes(bytes) }

    mutating func varints(_ values: UInt64...) {
        for value in values { writer.writeVarint(value) }
    }

    mutating func thread(id: UInt64, pid: Int32, tid: Int32) {
        record(.threadDefinition) { $0.writeThreadDefinition(ThreadDefinition(id: id, pid: pid, tid: tid)) }
    }

    mutating func stack(id: UInt64, kind: StackKind, frames: [UInt64]) {
        record(.stackDefinition) { $0.writeStackDefinition(id: id, kind: kind, frames: frames) }
    }

    mutating func sample(thread: UInt64, kernel: UInt64 = 0, user: UInt64 = 0, interpreter: UInt64 = 0,
                         timeDelta: Int64 = 10, cpu: UInt32 = 1) {
        record(.sample) {
            $0.writeSampleReference(timeDelta: timeDelta, thread: thread, cpu: cpu, kernelStack: kernel, userStack: user,
                                    flags: [], interpreterStack: interpreter)
        }
    }
}

/// The varint bytes of `value`.
func varint(_ value: UInt64) -> [UInt8] {
    var writer = ByteWriter()
    writer.writeVarint(value)
    return writer.bytes
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
}

func bytes(hex: String) -> [UInt8] {
    let clean = hex.filter { !$0.isWhitespace }
    var out: [UInt8] = []
    var index = clean.startIndex
    while index < clean.endIndex {
        let next = clean.index(index, offsetBy: 2)
        out.append(UInt8(clean[index..<next], radix: 16)!)
        index = next
    }
    return out
}
