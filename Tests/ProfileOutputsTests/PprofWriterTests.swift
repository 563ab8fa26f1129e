import Foundation
import Profiles
import Testing
@testable import ProfileOutputs

/// Decodes what PprofWriter writes with the real pprof (`go tool pprof`,
/// Debian package golang-go) and checks samples, names and stack order.
@Suite struct PprofWriterTests {
    static let pprofHint = "apt-get install -y golang-go"

    /// A stack as `go tool pprof -traces` prints it.
    struct Trace: Hashable {
        var labels: [String: String]
        var value: Int64
        /// Leaf first.
        var functions: [String]
    }

    static func writeFixture() throws -> String {
        let path = temporaryPath("profile.pb.gz")
        let writer = PprofWriter(samplesPerSecond: 99, startTimeUnixNano: 1_790_000_000_000_000_000,
                                 durationNanos: 2_000_000_000, comments: ["tandem test profile"])
        try writer.write(Fixture.aggregate, toFile: path)
        return path
    }

    static func pprof(_ options: [String], _ path: String) throws -> String {
        try run(["go", "tool", "pprof", "-symbolize=none"] + options + [path], installHint: pprofHint)
    }

    /// Parses `go tool pprof -traces` output: blocks of `key:  value` label
    /// lines, then `value  leaf`, then one caller per line.
    static func parseTraces(_ text: String) -> [Trace] {
        var traces: [Trace] = []
        for block in text.components(separatedBy: "-----------+").dropFirst() {
            var trace = Trace(labels: [:], value: -1, functions: [])
            for line in block.split(separator: "\n").dropFirst() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trace.value < 0 {
                    let parts = trimmed.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
                    if let value = Int64(parts[0]) {
                        trace.value = value
                        trace.functions.append(parts[1].trimmingCharacters(in: .whitespaces))
                    } else if let colon = trimmed.firstIndex(of: ":") {
                        trace.labels[String(trimmed[..<colon])] = trimmed[trimmed.index(after: colon)...]
                            .trimmingCharacters(in: .whitespaces)
                    }
                } else {
                    trace.functions.append(trimmed)
                }
            }
            if trace.value >= 0 { traces.append(trace) }
        }
        return traces
    }

    @Test func fileIsGzip() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.writeFixture())))
        #expect(bytes.prefix(2) == [0x1f, 0x8b])
    }

    @Test func pprofReadsSamplesNamesAndStackOrder() throws {
        let output = try Self.pprof(["-traces", "-sample_index=samples"], Self.writeFixture())
        let traces = Self.parseTraces(output)
        #expect(output.contains("Total samples = 14"))
        func trace(_ pid: Int, _ tid: Int, _ comm: String, _ value: Int64, _ functions: [String],
                   truncated: Bool = false) -> Trace {
            var labels = ["pid": "\(pid)", "tid": "\(tid)", "comm": comm]
            if truncated { labels["user_stack_truncated"] = "true" }
            return Trace(labels: labels, value: value, functions: functions)
        }
        let expected = [
            trace(100, 100, "spin", 3, ["compute", "work", "main"]),
            trace(100, 101, "spin", 1, ["compute", "work", "main"]),
            trace(100, 101, "spin", 1, ["compute", "work", "main"]),
            trace(100, 100, "spin", 1, ["copy_user_generic", "__x64_sys_write", "libc.so.6+0x2000", "work", "main"]),
            trace(100, 100, "spin", 1, ["libc.so.6+0x2000", "main"], truncated: true),
            trace(200, 200, "bash", 4, ["readline", "main"]),
            trace(100, 100, "spin", 1, ["weird;name", "main"]),
            trace(0, 0, "swapper/0", 2, [PprofWriter.emptyStackFunctionName]),
        ]
        #expect(traces.count == expected.count)
        #expect(Set(traces) == Set(expected))
    }

    @Test func pprofReadsTypesPeriodTimeAndMappings() throws {
        let raw = try Self.pprof(["-raw"], Self.writeFixture())
        #expect(raw.contains("Comment: tandem test profile"))
        #expect(raw.contains("PeriodType: cpu nanoseconds"))
        #expect(raw.contains("Period: 10101010"))
        #expect(raw.contains("Duration: 2s"))
        #expect(raw.contains("samples/count cpu/nanoseconds"))
        #expect(raw.contains("          3   30303030: 1 2 3 "))
        // memory start / limit / file offset, from the frames seen in each file.
        #expect(raw.contains("0x555500001100/0x555500001301/0x1100 /usr/bin/spin  [FN]"))
        #expect(raw.contains("/usr/lib/x86_64-linux-gnu/libc.so.6"))
        #expect(raw.contains(PprofWriter.kernelMappingName))
        // Kernel addresses take all ten bytes of a varint.
        #expect(raw.contains("0xffffffff81002000 M=2 copy_user_generic"))
        #expect(raw.contains("0x7f0000002000 M=3 libc.so.6+0x2000 /usr/lib/x86_64-linux-gnu/libc.so.6"))
    }

    @Test func pprofTopAddsUpToTheTotal() throws {
        let top = try Self.pprof(["-top", "-sample_index=samples"], Self.writeFixture())
        #expect(top.contains("Showing nodes accounting for 14, 100% of 14 total"))
        #expect(top.contains("         5 35.71% 35.71%          5 35.71%  compute"))
    }
}
