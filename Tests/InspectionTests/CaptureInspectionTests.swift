#if canImport(Glibc)
import Glibc
import SystemCalls
#endif
import Testing
@testable import AggregatorCore
import WireFormat

let header = StreamHeader(hostName: "host \"a\"", kernelRelease: "6.18.0", bootID: "b-1",
                          clock: ClockReference(monotonicNanoseconds: 1000, realtimeNanoseconds: 2000),
                          cpuCount: 2, samplesPerSecond: 99, samplerVersion: "0.1.0")

/// A small capture with every record type.
func captureBytes(truncatedBy cut: Int = 0) -> [UInt8] {
    var encoder = StreamEncoder(header: header)
    encoder.append(.process(ProcessInfo(pid: 300, parentPID: 1, startTime: 500, comm: "spin", executablePath: "/usr/bin/spin", cgroupPath: "/a.slice")))
    encoder.append(.mappings(Mappings(pid: 300, mappings: [
        Mapping(start: 0x40_0000, end: 0x40_2000, fileOffset: 0x1000, device: 0x803, inode: 9, path: "/usr/bin/spin"),
        Mapping(start: 0x7F00_0000, end: 0x7F10_0000, fileOffset: 0, device: 0x803, inode: 10, path: "/usr/lib/libc.so.6"),
    ])))
    encoder.appendSample(time: 1100, pid: 300, tid: 301, cpu: 1, kernelStack: [0xFFFF_FFFF_8100_0010, 0xFFFF_FFFF_8100_0000], userStack: [0x40_1010, 0x40_1000, 0x7F00_1000])
    encoder.appendSample(time: 1200, pid: 300, tid: 302, cpu: 0, kernelStack: [], userStack: [0x40_1010, 0x40_1000, 0x7F00_1000], flags: .userStackTruncated)
    encoder.resetInterning()
    encoder.appendSample(time: 1300, pid: 300, tid: 301, cpu: 0, kernelStack: [], userStack: [0x40_1010, 0x40_1000, 0x7F00_1000])
    encoder.append(.kernelSymbols(KernelSymbols(symbols: [KernelSymbol(address: 0xFFFF_FFFF_8100_0000, type: UInt8(ascii: "T"), name: "_stext"),
                                                         KernelSymbol(address: 0xFFFF_FFFF_C000_0000, type: UInt8(ascii: "t"), name: "ext4_fill", module: "ext4")])))
    encoder.append(.kernelModules(KernelModules(modules: [KernelModule(name: "ext4", start: 0xFFFF_FFFF_C000_0000, size: 0x1000)])))
    encoder.append(.statistics(SamplerStatistics(time: 1400, counters: [.samplesCollected: 5, .dropsRingBufferFull: 1, .dropsUserBufferFull: 2])))
    encoder.append(.processExit(ProcessExit(pid: 300, time: 1500)))
    encoder.append(.endOfStream(EndOfStream(time: 1600, reason: .shutdown)))
    let bytes = encoder.takeBytes()
    return Array(bytes.dropLast(cut))
}

/// Writes `bytes` to a new temporary file and returns its path.
func temporaryFile(_ bytes: [UInt8]) throws -> String {
    var template = Array("/tmp/tandem-inspect-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { throw SystemCallError("mkstemp") }
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count else { throw SystemCallError("write") }
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

@Suite struct CaptureInspectionTests {
    @Test func linesDescribeEachRecord() throws {
        let path = try temporaryFile(captureBytes())
        defer { unlink(path) }
        var lines: [String] = []
        try CaptureInspection.decode(path: path, chunkSize: 7) { record, offset in
            lines.append("\(offset) \(CaptureInspection.line(for: record))")
        }
        #expect(lines.count == 18)
        #expect(lines[0] == #"0 header version=1 host="host \"a\"" kernel="6.18.0" boot_id="b-1" cpus=2 hz=99 clock_monotonic=1000 clock_realtime=2000 sampler="0.1.0""#)
        #expect(lines[1].hasSuffix(#" process pid=300 ppid=1 start=500 comm="spin" exe="/usr/bin/spin" cgroup="/a.slice""#))
        #expect(lines[2].hasSuffix(#" mappings pid=300 count=2 [0x400000-0x402000 offset=0x1000 dev=8:3 inode=9 "/usr/bin/spin"] [0x7f000000-0x7f100000 offset=0x0 dev=8:3 inode=10 "/usr/lib/libc.so.6"]"#))
        #expect(lines[3].hasSuffix(" stack #1 kernel 2 frames: 0xffffffff81000010 0xffffffff81000000"))
        #expect(lines[4].hasSuffix(" stack #2 user 3 frames: 0x401010 0x401000 0x7f001000"))
        #expect(lines[5].hasSuffix(" thread #1 pid=300 tid=301"))
        #expect(lines[6].hasSuffix(" sample t=1100 pid=300 tid=301 cpu=1 kstack=#1(2 frames) ustack=#2(3 frames) flags=none"))
        #expect(lines[8].hasSuffix(" sample t=1200 pid=300 tid=302 cpu=0 kstack=none ustack=#2(3 frames) flags=user_stack_truncated"))
        #expect(lines[9].hasSuffix(" reset_interning"))
        #expect(lines[13].hasSuffix(#" kernel_symbols count=2 first=0xffffffff81000000 T "_stext" last=0xffffffffc0000000 t "ext4_fill [ext4]""#))
        #expect(lines[14].hasSuffix(#" kernel_modules count=1 "ext4"@0xffffffffc0000000+0x1000"#))
        #expect(lines[15].hasSuffix(" statistics t=1400 samples_collected=5 drops_ring_buffer_full=1 drops_user_buffer_full=2"))
        #expect(lines[16].hasSuffix(" exit pid=300 t=1500"))
        #expect(lines[17].hasSuffix(" end_of_stream t=1600 reason=shutdown"))
        // Offsets are those of the records in the stream.
        let offsets = lines.map { Int($0.prefix { $0 != " " })! }
        #expect(offsets == offsets.sorted() && Set(offsets).count == offsets.count)
    }

    @Test func summaryCountsTheCapture() throws {
        let bytes = captureBytes()
        let path = try temporaryFile(bytes)
        defer { unlink(path) }
        var summary = CaptureSummary()
        try CaptureInspection.decode(path: path, chunkSize: 3) { record, _ in summary.add(record) }
        summary.bytes = bytes.count
        #expect(summary.samples == 3)
        #expect(summary.distinctUserStacks == 1 && summary.distinctKernelStacks == 1)
        #expect(summary.recordsByType["stack_definition"] == 3)
        let perSample = JSONText.decimal(Double(bytes.count) / 3)
        #expect(summary.json == """
            {"bytes":\(bytes.count),"records":{"end_of_stream":1,"header":1,"kernel_modules":1,"kernel_symbols":1,"mappings":1,\
            "process":1,"process_exit":1,"reset_interning":1,"sample":3,"stack_definition":3,"statistics":1,"thread_definition":3},\
            "samples":3,"bytes_per_sample":\(perSample),"processes":1,"process_records":1,"mappings":2,"threads":2,\
            "distinct_stacks":{"total":2,"kernel":1,"user":1},\
            "drops":{"total":3,"by_reason":{"drops_ring_buffer_full":1,"drops_user_buffer_full":2}},"sample_time_span_ns":200,\
            "host":{"format_version":1,"host_name":"host \\"a\\"","kernel_release":"6.18.0","boot_id":"b-1","cpu_count":2,\
            "samples_per_second":99,"clock_monotonic_ns":1000,"clock_realtime_ns":2000,"sampler_version":"0.1.0"},\
            "end_of_stream":"shutdown","error":null}
            """)
    }

    @Test func malformedCaptureReportsWhatItDecodedThenTheError() throws {
        let path = try temporaryFile(captureBytes(truncatedBy: 2))
        defer { unlink(path) }
        var records = 0
        let error = #expect(throws: WireFormatError.self) {
            try CaptureInspection.decode(path: path, chunkSize: 5) { _, _ in records += 1 }
        }
        #expect(records == 17)
        #expect(error?.kind == .truncated)
        #expect(error?.recordName == "endOfStream")
        #expect(error?.description.contains("endOfStream at byte offset") == true)
    }

    @Test func missingFileIsASystemCallError() {
        let error = #expect(throws: SystemCallError.self) {
            try CaptureInspection.decode(path: "/nonexistent/capture.tndm") { _, _ in }
        }
        #expect(error?.call == "open" && error?.errno == ENOENT)
    }

    @Test func jsonStringsAreEscaped() {
        #expect(JSONText.string("a\"b\\c\nd\u{01}é") == #""a\"b\\c\nd\u0001é""#)
        #expect(JSONText.decimal(10.126) == "10.13")
        #expect(JSONText.decimal(0.05) == "0.05")
        #expect(JSONText.decimal(3) == "3.00")
        #expect(CaptureInspection.device(0x803) == "8:3")
        #expect(CaptureInspection.device(0x10301) == "259:1")
        #expect(CaptureInspection.device(0x10_082C) == "8:300")
    }
}
