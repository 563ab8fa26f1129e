// Writes valid streams to seed the decoder fuzzers (scripts/fuzz-decoder.sh):
//   seed-corpus STREAM-DIR CONTROL-DIR
// Each file is one stream; together the stream seeds contain every record type,
// interning resets, long lists and the encoder's cut strings and stacks; the control
// seeds are ControlSeedCorpus.swift's.

#if canImport(Glibc)
import Glibc
#endif

struct Generator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

func header(_ index: Int) -> StreamHeader {
    StreamHeader(hostName: "seed-\(index)", kernelRelease: "6.18.0", bootID: "00000000-0000-0000-0000-00000000000\(index % 10)",
                 clock: ClockReference(monotonicNanoseconds: 5_000_000_000, realtimeNanoseconds: 1_790_000_000_000_000_000),
                 cpuCount: 2, samplesPerSecond: 99, samplerVersion: "seed")
}

/// A stream of `samples` samples over `stackCount` stacks, with the other
/// record types interleaved.
func stream(_ index: Int, samples: Int, stackCount: Int, limits: EncoderLimits = .init()) -> [UInt8] {
    var random = Generator(state: UInt64(index) &* 0x9E37_79B9_7F4A_7C15 | 1)
    var encoder = StreamEncoder(header: header(index), limits: limits)
    let pids: [Int32] = [100, 200, 300]
    for pid in pids {
        encoder.append(.process(ProcessInfo(pid: pid, parentPID: 1, startTime: UInt64(pid) * 1000, comm: "proc\(pid)",
                                            executablePath: "/usr/bin/proc\(pid)", cgroupPath: "/system.slice/p\(pid).service")))
        encoder.append(.mappings(Mappings(pid: pid, mappings: [
            Mapping(start: 0x5555_0000_0000, end: 0x5555_0001_0000, fileOffset: 0x1000, device: 0x803, inode: UInt64(pid), path: "/usr/bin/proc\(pid)"),
            Mapping(start: 0x7F00_0000_0000, end: 0x7F00_0020_0000, fileOffset: 0, device: 0x803, inode: 7, path: "/usr/lib/libc.so.6"),
        ])))
    }
    encoder.append(.kernelSymbols(KernelSymbols(symbols: (0..<6).map {
        KernelSymbol(address: 0xFFFF_FFFF_8100_0000 + UInt64($0) * 64, type: UInt8(ascii: "T"), name: "kfunc_\($0)", module: $0 == 5 ? "ext4" : "")
    })))
    encoder.append(.kernelModules(KernelModules(modules: [KernelModule(name: "ext4", start: 0xFFFF_FFFF_C000_0000, size: 0x8000)])))
    let stacks: [[UInt64]] = (0..<stackCount).map { _ in
        (0..<Int.random(in: 1...12, using: &random)).map { _ in 0x5555_0000_0000 + UInt64.random(in: 0..<0x1_0000, using: &random) }
    }
    var time: UInt64 = 5_000_000_000
    for n in 0..<samples {
        time += UInt64.random(in: 1_000_000...6_000_000, using: &random)
        let pid = pids[n % pids.count]
        let kernel: [UInt64] = n % 3 == 0 ? [0xFFFF_FFFF_8100_0040, 0xFFFF_FFFF_8100_0000] : []
        encoder.appendSample(time: time, pid: pid, tid: pid + Int32(n % 2), cpu: UInt32(n % 2), kernelStack: kernel,
                             userStack: stacks[Int.random(in: 0..<stacks.count, using: &random)],
                             flags: n % 5 == 0 ? .userStackTruncated : [])
        if n % 17 == 16 {
            encoder.append(.statistics(SamplerStatistics(time: time, counters: [.samplesCollected: UInt64(n), .samplesSent: UInt64(n), .dropsRingBufferFull: 1])))
        }
    }
    encoder.append(.processExit(ProcessExit(pid: 300, time: time + 1)))
    encoder.append(.endOfStream(EndOfStream(time: time + 2, reason: .finished)))
    return encoder.takeBytes()
}

@main
struct SeedCorpus {
    static func main() {
        guard CommandLine.arguments.count == 3 else {
            print("usage: seed-corpus STREAM-DIR CONTROL-DIR")
            exit(2)
        }
        var seeds: [[UInt8]] = []
        var empty = StreamEncoder(header: header(0))
        seeds.append(empty.takeBytes())
        seeds.append(stream(1, samples: 3, stackCount: 2))
        seeds.append(stream(2, samples: 40, stackCount: 8))
        seeds.append(stream(3, samples: 200, stackCount: 30))
        // Tiny interning tables: resets every few samples.
        seeds.append(stream(4, samples: 60, stackCount: 20, limits: EncoderLimits(maximumStacks: 4, maximumInternedFrames: 40, maximumThreads: 2)))
        // The encoder's cuts: a long string and a deep stack.
        var cuts = StreamEncoder(header: header(5), limits: EncoderLimits(maximumFramesPerStack: 16, maximumStringLength: 24))
        cuts.append(.process(ProcessInfo(pid: 9, parentPID: 1, startTime: 0, comm: "x", executablePath: String(repeating: "/very/long", count: 10), cgroupPath: "é€😀")))
        cuts.appendSample(time: 6_000_000_000, pid: 9, tid: 9, cpu: 1, kernelStack: (0..<40).map { 0xFFFF_FFFF_8100_0000 + UInt64($0) },
                          userStack: (0..<40).map { UInt64($0) << 12 })
        cuts.append(.endOfStream(EndOfStream(time: 6_000_000_001, reason: .error)))
        seeds.append(cuts.takeBytes())
        // CPython: a code record, then samples with Python frames (stack kind 2).
        var python = StreamEncoder(header: header(6))
        python.append(.cpythonCode(CPythonCodeRecord(pid: 7, code: 0x7f00_1234_5678, fingerprint: 0xdead_beef, pythonVersion: 0x030b,
                                                     flags: 1, header: Array(repeating: 1, count: 192), name: Array("alpha".utf8),
                                                     qualifiedName: [], fileName: Array("/w.py".utf8), lineTable: [0x80, 0x01])))
        for n in 0..<6 {
            let frames = (0...n).map { CPythonFrame(code: 0x7f00_1234_5678 + UInt64($0) * 0x100, fingerprint: UInt32($0),
                                                    instruction: UInt32($0 * 2), flags: $0 == n ? .entry : []) }
            python.appendSample(time: 7_000_000_000 + UInt64(n), pid: 7, tid: 7, cpu: 0, kernelStack: [],
                                userStack: [0x5555_0000_1000, 0x5555_0000_2000], cpythonFrames: frames,
                                cpythonFlags: n == 5 ? .truncated : [])
        }
        seeds.append(python.takeBytes())
        // BEAM: a function record, then samples with Erlang frames (stack kind 8).
        var beam = StreamEncoder(header: header(7))
        beam.append(.beamFunction(BEAMFunctionRecord(pid: 8, codeInfo: 0x7f23_0a89_1000, module: 0x1234b, function: 0x5678b,
                                                     arity: 2, ertsMajor: 13, flags: 0, moduleName: Array("known_truth".utf8),
                                                     functionName: Array("alpha".utf8))))
        for n in 0..<4 {
            var words: [UInt64] = []
            for frame in 0...n {
                let codeInfo = 0x7f23_0a89_1000 + UInt64(frame) * 0x400
                words += [codeInfo, codeInfo + 0x10]
            }
            words.withUnsafeBufferPointer { stack in
                [UInt64(0x7f23_0a89_1010)].withUnsafeBufferPointer { user in
                    beam.appendSample(time: 8_000_000_000 + UInt64(n), pid: 8, tid: 8, cpu: 1,
                                      kernelStack: UnsafeBufferPointer(start: nil, count: 0), userStack: user,
                                      interpreterStack: stack, interpreterStackKind: .beam, interpreterFlags: n == 3 ? 1 : 0)
                }
            }
        }
        seeds.append(beam.takeBytes())
        writeSeeds(seeds, to: CommandLine.arguments[1], name: "seed", suffix: ".tndm")
        writeSeeds(controlSeeds(), to: CommandLine.arguments[2], name: "control")
    }
}
