import Foundation
import Logging
import Testing
import StreamDecoding
import WireFormat
@testable import SamplerCore
#if canImport(Glibc)
import Glibc
#endif

@Suite("stream output")
struct StreamOutputTests {
    static let logger = Logger(label: "test")
    static let header = StreamHeader(hostName: "h", kernelRelease: "6.18", bootID: "b",
                                     clock: ClockReference(monotonicNanoseconds: 1, realtimeNanoseconds: 2),
                                     cpuCount: 2, samplesPerSecond: 19, samplerVersion: "t")

    @Test("a capture file holds header, kernel symbols, the state snapshot, then samples")
    func captureFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-output-\(UUID().uuidString)").path
        defer { unlink(path) }
        var output = StreamOutput(destination: .file(path: path), bufferLimit: 1 << 20)
        let connected = output.connectIfDue(now: 0, header: { Self.header }, logger: Self.logger)
        #expect(connected)
        #expect(!output.acceptsSamples, "no samples before the snapshot is out")
        let symbols = (0..<2500).map { KernelSymbol(address: 0xffff_ffff_8100_0000 + UInt64($0) * 16, type: UInt8(ascii: "T"), name: "f\($0)") }
        let process = WireFormat.ProcessInfo(pid: 5, parentPID: 1, startTime: 0, comm: "p", executablePath: "/p", cgroupPath: "/")
        output.continueSnapshot(symbols: EncodedKernelSymbols(symbols, perChunk: 1024)) { [.process(process), .mappings(Mappings(pid: 5, mappings: []))] }
        #expect(output.isLive)
        let kernel: [UInt64] = [0xffff_ffff_8100_0010], user: [UInt64] = [0x1000, 0x2000]
        kernel.withUnsafeBufferPointer { kernelStack in
            user.withUnsafeBufferPointer { userStack in
                output.appendSample(time: 10, pid: 5, tid: 6, cpu: 1, kernelStack: kernelStack, userStack: userStack, flags: [],
                                    interpreterStack: UnsafeBufferPointer(start: nil, count: 0), interpreterFlags: 0)
            }
        }
        output.appendState(.processExit(ProcessExit(pid: 5, time: 11)))
        output.finish(reason: .finished, now: 12, logger: Self.logger)
        let reopened = output.connectIfDue(now: 100, header: { Self.header }, logger: Self.logger)
        #expect(!reopened, "one stream per file")

        var decoder = StreamDecoder()
        decoder.feed(try Data(contentsOf: URL(fileURLWithPath: path)))
        var records: [Record] = []
        while let record = try decoder.next() { records.append(record) }
        try decoder.finish()
        #expect(records.first == .header(Self.header))
        let symbolChunks = records.compactMap { if case .kernelSymbols(let chunk) = $0 { chunk.symbols.count } else { nil } }
        #expect(symbolChunks == [1024, 1024, 452])
        let types = records.dropFirst(4).compactMap(\.type)
        #expect(types.first == .process)
        let sample = try #require(records.compactMap { if case .sample(let sample) = $0 { sample } else { nil } }.first)
        #expect(sample.userStack == user && sample.kernelStack == kernel && sample.pid == 5 && sample.tid == 6)
        #expect(records.last == .endOfStream(EndOfStream(time: 12, reason: .finished)))
    }

    @Test("an absent aggregator: connection attempts back off exponentially up to the maximum")
    func backoff() {
        var output = StreamOutput(destination: .socket(path: "/nonexistent/tandem.sock"), bufferLimit: 1 << 16,
                                  minimumBackoff: 100, maximumBackoff: 500)
        var now: UInt64 = 1_000
        var delays: [UInt64] = []
        for _ in 0..<5 {
            let connected = output.connectIfDue(now: now, header: { Self.header }, logger: Self.logger)
            #expect(!connected)
            guard case .disconnected(let next) = output.phase else {
                Issue.record("not disconnected")
                return
            }
            let early = output.connectIfDue(now: next - 1, header: { Self.header }, logger: Self.logger)
            #expect(!early, "not due yet")
            delays.append(next - now)
            now = next
        }
        #expect(delays == [100, 200, 400, 500, 500])
        #expect(output.connections == 0)
        #expect(!output.acceptsSamples)
    }

    /// A listening Unix socket at `path`.
    static func listen(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        try #require(bytes.count < MemoryLayout.size(ofValue: address.sun_path))
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && Glibc.listen(fd, 4) == 0)
        return fd
    }

    /// The reader takes part of the stream and goes away (an aggregator killed, or a
    /// connection its watchdog abandoned): the samples it got count as written, every
    /// other one as discarded unsent. None is in neither count.
    @Test("a stream that ends with samples queued: written + discarded == appended, exactly")
    func discardedSamplesAreCounted() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-out-\(UUID().uuidString).sock").path
        let listener = try Self.listen(path)
        defer { close(listener); unlink(path) }
        var output = StreamOutput(destination: .socket(path: path), bufferLimit: 8 << 20)
        let connected = output.connectIfDue(now: 0, header: { Self.header }, logger: Self.logger)
        try #require(connected)
        let connection = accept(listener, nil, nil)
        try #require(connection >= 0)
        var connectionOpen = true
        defer { if connectionOpen { close(connection) } }
        output.continueSnapshot(symbols: .empty) { [] }
        try #require(output.isLive)

        // Distinct stacks, so that the samples outgrow the socket's buffers.
        let appended = 20_000
        for index in 0..<appended {
            let user = (0..<32).map { UInt64(0x40_0000 + index * 0x1_0000 + $0 * 64) }
            user.withUnsafeBufferPointer { userStack in
                output.appendSample(time: UInt64(10 + index), pid: 5, tid: 6, cpu: 0,
                                    kernelStack: UnsafeBufferPointer(start: nil, count: 0), userStack: userStack, flags: [],
                                    interpreterStack: UnsafeBufferPointer(start: nil, count: 0), interpreterFlags: 0)
            }
        }
        output.flush(now: 1, logger: Self.logger)
        // The reader takes what was written, then dies.
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count <= 0 { break }
            received += chunk[..<count]
        }
        close(connection)
        connectionOpen = false
        output.flush(now: 2, logger: Self.logger)
        #expect(!output.isLive, "the write to a closed reader ends the stream")

        var decoder = StreamDecoder()
        decoder.feed(received)
        var samples = 0
        while let record = try decoder.next() { if case .sample = record { samples += 1 } }
        print("discarded samples: \(samples) of \(appended) reached the reader (\(received.count) bytes), \(output.samplesDiscarded) counted as discarded")
        #expect(samples > 0 && samples < appended)
        #expect(output.samplesWritten == UInt64(samples))
        #expect(output.samplesDiscarded == UInt64(appended - samples))
    }

    @Test("byte queue: partial writes consume from the front")
    func byteQueue() {
        var queue = ByteQueue()
        queue.append([1, 2, 3, 4])
        queue.append([5])
        var seen: [[UInt8]] = []
        let first = queue.write { bytes in
            seen.append(Array(bytes))
            return 2
        }
        #expect(first == 2)
        #expect(queue.count == 3)
        _ = queue.write { bytes in
            seen.append(Array(bytes))
            return 3
        }
        #expect(seen == [[1, 2, 3, 4, 5], [3, 4, 5]])
        #expect(queue.isEmpty)
    }
}

/// `--output`: a capture is a regular file the sampler creates or replaces; whatever else
/// is at the path is refused before it is opened, and the error says why and what to do.
@Suite("capture file (root)", .serialized, .enabled(if: getuid() == 0, "needs root: device nodes, chown"))
struct CaptureFileTests {
    static let logger = Logger(label: "test")

    final class Scratch {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-capture-\(UUID().uuidString)").path
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Opens `path` as the capture; its failure, if any.
    static func open(_ path: String) -> (connected: Bool, failure: SamplerError?) {
        var output = StreamOutput(destination: .file(path: path), bufferLimit: 1 << 20)
        let connected = output.connectIfDue(now: 0, header: { StreamOutputTests.header }, logger: logger)
        if connected { output.finish(reason: .finished, now: 1, logger: logger) }
        return (connected, output.failure)
    }

    @Test("a link, a FIFO, a device, a directory, another user's or a hard-linked file at the path: refused, the target untouched")
    func refusesWhatIsNotItsOwnRegularFile() throws {
        let scratch = try Scratch()
        let victim = "\(scratch.path)/victim"
        try "precious".write(toFile: victim, atomically: false, encoding: .utf8)
        let link = "\(scratch.path)/link.tandem"
        try #require(symlink(victim, link) == 0)
        let fifo = "\(scratch.path)/fifo.tandem"
        try #require(mkfifo(fifo, 0o600) == 0)
        // A reader waits on the FIFO, so that an open for writing would not block but succeed.
        let reader = Glibc.open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        defer { close(reader) }
        let others = "\(scratch.path)/others.tandem"
        try "theirs".write(toFile: others, atomically: false, encoding: .utf8)
        try #require(chown(others, 65534, 65534) == 0)
        let linked = "\(scratch.path)/linked.tandem"
        try #require(Glibc.link(victim, linked) == 0)

        let cases = [(link, "a symbolic link"), (fifo, "a FIFO"), ("/dev/full", "a character device"),
                     (scratch.path, "a directory"), (others, "a file of user 65534"), (linked, "2 hard links")]
        for (path, kind) in cases {
            let (connected, failure) = Self.open(path)
            #expect(!connected, "\(path)")
            guard case .captureFileRefused(let refused, let reason) = failure else {
                Issue.record("\(path): \(failure.map { "\($0)" } ?? "accepted")")
                continue
            }
            #expect(refused == path && reason.contains(kind), "\(reason)")
            #expect(failure?.description.contains("remove it or choose another --output") == true)
        }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
        #expect(try String(contentsOfFile: others, encoding: .utf8) == "theirs")
        var byte: UInt8 = 0
        // Empty (EAGAIN) or no writer ever (0): no byte came through.
        #expect(read(reader, &byte, 1) <= 0, "bytes were written into the FIFO")
    }

    @Test("a missing directory: the error names the path, the errno and the fix")
    func missingDirectory() throws {
        let scratch = try Scratch()
        let path = "\(scratch.path)/missing/capture.tandem"
        let (connected, failure) = Self.open(path)
        #expect(!connected)
        guard case .captureFileUnavailable(let named, let error) = failure else {
            Issue.record("\(failure.map { "\($0)" } ?? "accepted")")
            return
        }
        #expect(named == path && error.errno == ENOENT)
        let text = failure?.description ?? ""
        #expect(text.contains(path) && text.contains("errno \(ENOENT)") && text.contains("create it or choose another --output"), "\(text)")
    }

    @Test("a regular file of its own is replaced; a new one is created")
    func ownRegularFileIsReplaced() throws {
        let scratch = try Scratch()
        let existing = "\(scratch.path)/old.tandem"
        try String(repeating: "x", count: 100_000).write(toFile: existing, atomically: false, encoding: .utf8)
        for path in [existing, "\(scratch.path)/new.tandem"] {
            let (connected, failure) = Self.open(path)
            #expect(connected && failure == nil, "\(path): \(failure.map { "\($0)" } ?? "")")
            var decoder = StreamDecoder()
            decoder.feed(try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(try decoder.next() == .header(StreamOutputTests.header), "\(path) does not start with the header")
            #expect(try decoder.next() == nil, "\(path) holds more than the new stream")
            try decoder.finish()
        }
    }
}
