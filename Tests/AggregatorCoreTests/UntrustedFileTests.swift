@testable import AggregatorCore
import Configuration
import Dispatch
import Foundation
import Logging
import Synchronization
import Symbolization
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// Where `returnsWithin`'s thread leaves its result.
private final class ResultBox<T: Sendable>: Sendable {
    let value = Mutex<T?>(nil)
}

/// Runs `body` on a thread of its own and waits for it at most `seconds`: a liveness
/// check, not a timing assertion (the work takes milliseconds; a blocking open of a FIFO
/// never returns). When it does not return, a writer opens and closes each of `fifos`, so
/// the stuck open ends and the thread with it; the result is then nil.
private func returnsWithin<T: Sendable>(seconds: Int = 60, unblocking fifos: [String],
                                        _ body: @escaping @Sendable () throws -> T) throws -> T? {
    let result = ResultBox<Result<T, any Error>>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        let value = Result { try body() }
        result.value.withLock { $0 = value }
        done.signal()
    }
    thread.start()
    if done.wait(timeout: .now() + .seconds(seconds)) == .success { return try result.value.withLock { $0 }?.get() }
    for fifo in fifos {
        let fd = open(fifo, O_WRONLY | O_NONBLOCK)
        if fd >= 0 { close(fd) }
    }
    _ = done.wait(timeout: .now() + .seconds(seconds))
    return nil
}

private func makeFIFO(_ path: String) throws {
    try #require(mkfifo(path, 0o644) == 0, "mkfifo(\(path)): errno \(errno)")
}

private func identity(of path: String) throws -> FileIdentity {
    var status = stat()
    try #require(stat(path, &status) == 0)
    return FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
}

/// Log messages with their metadata, for what a replay reports.
private final class MetadataLog: Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "recorded") { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: MetadataLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            log.lines.withLock { $0.append("\(event.level): \(event.message) \(fields.joined(separator: " "))") }
        }
    }
}

@Suite struct UntrustedFileTests {
    @Test func aFIFOAtAMappedPathIsUnreadableForUnwindTablesWithoutBlocking() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fifo = directory + "/libplanted.so"
        try makeFIFO(fifo)
        let link = directory + "/liblink.so"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: fifo)
        let fifoIdentity = try identity(of: fifo)
        let entry = try returnsWithin(unblocking: [fifo]) {
            UnwindTableCache().table(for: fifoIdentity, paths: [fifo, link])
        }
        guard case .unreadable(let reason)? = entry else {
            Issue.record("expected unreadable, got \(entry.map { "\($0)" } ?? "no answer: reading the FIFO blocks")")
            return
        }
        #expect(reason == "\(fifo) is a FIFO, not a regular file: not opened (a FIFO or device could block the aggregator, or act on being opened); remove it or put the real file there; "
                + "\(link) is a FIFO, not a regular file: not opened (a FIFO or device could block the aggregator, or act on being opened); remove it or put the real file there")
    }

    @Test func aFIFOInPlaceOfADebugFileIsAWarningAndTheTableIsCompiled() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let program = directory + "/prog"
        let debugFile = program + ".debug"
        try "int main(void) { return 0; }\n".write(toFile: program + ".c", atomically: true, encoding: .utf8)
        for arguments in [["cc", "-O2", "-g", "-o", program, program + ".c"],
                          ["objcopy", "--only-keep-debug", program, debugFile],
                          ["strip", "-g", "--remove-section=.note.gnu.build-id", program],
                          ["objcopy", "--add-gnu-debuglink=\(debugFile)", program]] {
            let process = try Process.run(URL(fileURLWithPath: "/usr/bin/env"), arguments: arguments)
            process.waitUntilExit()
            try #require(process.terminationStatus == 0, "\(arguments.joined(separator: " "))")
        }
        try FileManager.default.removeItem(atPath: debugFile)
        try makeFIFO(debugFile)
        let programIdentity = try identity(of: program)
        let entry = try returnsWithin(unblocking: [debugFile]) {
            UnwindTableCache(debugFiles: DebugFileLocator(debugDirectories: [])).table(for: programIdentity, paths: [program])
        }
        guard case .compiled(let table)? = entry else {
            Issue.record("expected a table, got \(entry.map { "\($0)" } ?? "no answer: opening the debug file blocks")")
            return
        }
        #expect(table.separateDebugFile == nil)
        #expect(table.debugFileWarnings == ["\(debugFile): \(debugFile) is a FIFO, not a regular file: not opened (a FIFO or device could block the aggregator, or act on being opened); remove it or put the real file there"])
    }

    @Test func mappingsOfProcFilesWithoutAnInodeAreNeverOpenedAndTheirFramesStay() throws {
        var encoder = StreamEncoder(header: SyntheticStream.header)
        encoder.append(.process(WireFormat.ProcessInfo(pid: 4242, parentPID: 1, startTime: 0, comm: "crafted",
                                                       executablePath: "/nonexistent/crafted", cgroupPath: "/")))
        encoder.append(.mappings(Mappings(pid: 4242, mappings: [
            Mapping(start: 0x5555_0000_0000, end: 0x5555_0001_0000, fileOffset: 0, device: 0, inode: 0, path: "/proc/self/mem"),
            Mapping(start: 0x5555_0001_0000, end: 0x5555_0002_0000, fileOffset: 0, device: 0, inode: 0, path: "/proc/self/environ"),
        ])))
        var time = SyntheticStream.header.clock.monotonicNanoseconds
        for _ in 0..<10 {
            time += 10_000_000
            encoder.appendSample(time: time, pid: 4242, tid: 4242, cpu: 0, kernelStack: [],
                                 userStack: [0x5555_0000_1010, 0x5555_0001_2020])
        }
        encoder.append(.endOfStream(EndOfStream(time: time, reason: .finished)))

        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = MetadataLog()
        let runtime = try AggregatorRuntime(configuration: DefaultConfiguration.load(path: nil),
                                            outputs: OutputPaths(metrics: directory + "/metrics.jsonl", folded: directory + "/stacks.folded"),
                                            logger: log.logger)
        let stream = StreamPipeline(runtime: runtime, logger: log.logger)
        try stream.consume(encoder.takeBytes()[...])
        stream.finish(error: nil)
        try runtime.shutdown()

        #expect(runtime.summary.samples == 10)
        let folded = try String(contentsOfFile: directory + "/stacks.folded", encoding: .utf8)
        #expect(folded.contains("environ+0x2020;mem+0x1010 10"), "\(folded)")
        let failures = log.lines.withLock { $0 }.filter { $0.contains("cannot read symbols") }
        #expect(failures.count == 2, "\(failures)")
        for path in ["/proc/self/mem", "/proc/self/environ"] {
            #expect(failures.contains { $0.contains("file=\(path) ")
                && $0.contains("reason=\(path): the mapping has no inode, so it is not a file on disk; not opened") },
                    "\(failures)")
        }
    }
}
