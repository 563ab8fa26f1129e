import WireFormat

/// A small stream whose metrics are known: one process of the test, kernel
/// symbols for a TCP send path and a futex wait, and samples on both.
enum SyntheticStream {
    static let header = StreamHeader(hostName: "replay-host", kernelRelease: "6.18.0", bootID: "boot",
                                     clock: ClockReference(monotonicNanoseconds: 1_000_000_000,
                                                           realtimeNanoseconds: 1_800_000_000_000_000_000),
                                     cpuCount: 2, samplesPerSecond: 99, samplerVersion: "test")

    static let kernelSymbols: [KernelSymbol] = [
        KernelSymbol(address: 0xffff_ffff_8100_0000, type: UInt8(ascii: "T"), name: "entry_SYSCALL_64"),
        KernelSymbol(address: 0xffff_ffff_8100_1000, type: UInt8(ascii: "T"), name: "__x64_sys_write"),
        KernelSymbol(address: 0xffff_ffff_8100_2000, type: UInt8(ascii: "T"), name: "tcp_sendmsg"),
        KernelSymbol(address: 0xffff_ffff_8100_3000, type: UInt8(ascii: "T"), name: "_raw_spin_unlock"),
        KernelSymbol(address: 0xffff_ffff_8100_4000, type: UInt8(ascii: "T"), name: "__x64_sys_futex"),
        KernelSymbol(address: 0xffff_ffff_8100_5000, type: UInt8(ascii: "T"), name: "futex_wait"),
        KernelSymbol(address: 0xffff_ffff_8100_6000, type: UInt8(ascii: "T"), name: "zzz_end"),
    ]

    /// Leaf first: spin unlock inside tcp_sendmsg inside write(2).
    static let tcpWriteStack: [UInt64] = [0xffff_ffff_8100_3010, 0xffff_ffff_8100_2020, 0xffff_ffff_8100_1030,
                                          0xffff_ffff_8100_0040]
    static let futexStack: [UInt64] = [0xffff_ffff_8100_5010, 0xffff_ffff_8100_4020, 0xffff_ffff_8100_0040]
    static let userStack: [UInt64] = [0x5555_0000_1010, 0x5555_0000_1020]

    /// The bytes: `tcpSamples` on the TCP path, `futexSamples` on the futex
    /// path, `userSamples` in user space, one sample every 10 ms.
    static func bytes(tcpSamples: Int = 30, futexSamples: Int = 20, userSamples: Int = 50,
                      endOfStream: Bool = true, header: StreamHeader = header) -> [UInt8] {
        var encoder = StreamEncoder(header: header)
        encoder.append(.kernelSymbols(KernelSymbols(symbols: kernelSymbols)))
        encoder.append(.process(ProcessInfo(pid: 4242, parentPID: 1, startTime: 0, comm: "synthetic",
                                            executablePath: "/nonexistent/synthetic", cgroupPath: "/")))
        encoder.append(.mappings(Mappings(pid: 4242, mappings: [
            Mapping(start: 0x5555_0000_0000, end: 0x5555_0001_0000, fileOffset: 0, device: 0, inode: 1,
                    path: "/nonexistent/synthetic"),
        ])))
        var time = header.clock.monotonicNanoseconds
        func sample(kernel: [UInt64], user: [UInt64]) {
            time += 10_000_000
            encoder.appendSample(time: time, pid: 4242, tid: 4243, cpu: 0, kernelStack: kernel, userStack: user)
        }
        for _ in 0..<tcpSamples { sample(kernel: tcpWriteStack, user: userStack) }
        for _ in 0..<futexSamples { sample(kernel: futexStack, user: userStack) }
        for _ in 0..<userSamples { sample(kernel: [], user: userStack) }
        encoder.append(.statistics(SamplerStatistics(time: time, counters: [
            .samplesCollected: UInt64(tcpSamples + futexSamples + userSamples + 3), .dropsRingBufferFull: 3,
        ])))
        if endOfStream { encoder.append(.endOfStream(EndOfStream(time: time, reason: .finished))) }
        return encoder.takeBytes()
    }
}
