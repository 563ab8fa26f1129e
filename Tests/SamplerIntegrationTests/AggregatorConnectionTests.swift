import Foundation
import Testing
import StreamDecoding
import WireFormat

/// A stand-in for tandem-aggregator's listening socket: a real AF_UNIX listener.
final class UnixListener {
    let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure.setup("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 4) == 0 else { throw TestFailure.setup("bind/listen \(path): errno \(errno)") }
    }

    /// Waits for the sampler to connect.
    func accept(timeoutSeconds: Double) throws -> StreamReader {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(timeoutSeconds * 1000)) == 1 else {
            throw TestFailure.setup("the sampler did not connect within \(timeoutSeconds) s")
        }
        let connection = Glibc.accept(fd, nil, nil)
        guard connection >= 0 else { throw TestFailure.setup("accept: errno \(errno)") }
        return StreamReader(fd: connection)
    }

    func close() {
        _ = Glibc.close(fd)
        unlink(path)
    }
}

/// The accepted end of one sampler stream, decoded as it is read.
final class StreamReader {
    let fd: Int32
    var decoder = StreamDecoder()
    var records: [Record] = []
    var bytesRead = 0

    init(fd: Int32) { self.fd = fd }

    /// Reads whatever the socket holds right now, without waiting; returns the byte count.
    func readAvailable() throws -> Int {
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count <= 0 { break }
            total += count
            try consume(buffer[0..<count])
        }
        return total
    }

    /// Reads until `condition` holds for the records read so far; with `closeIsFine`,
    /// also stops (returning false) when the sampler closes the stream.
    @discardableResult
    func read(timeoutSeconds: Double, closeIsFine: Bool = false, until condition: ([Record]) -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while !condition(records) {
            guard Date() < deadline else { throw TestFailure.setup("the stream did not reach the expected state within \(timeoutSeconds) s") }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 200) == 1 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else {
                if closeIsFine { return false }
                throw TestFailure.setup("the sampler closed the stream")
            }
            try consume(buffer[0..<count])
        }
        return true
    }

    private func consume(_ bytes: ArraySlice<UInt8>) throws {
        bytesRead += bytes.count
        decoder.feed(bytes)
        while let record = try decoder.next() { records.append(record) }
    }

    func close() { _ = Glibc.close(fd) }
}

extension SamplerLiveTests {
@Suite("tandem-sampler and an absent, slow, then returning aggregator (root)", .serialized,
       .enabled(if: isRoot, "needs root: loads BPF"))
struct AggregatorConnectionTests {
    @Test("memory stays bounded, drops are counted, a new connection gets the full state")
    func absentSlowBack() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let socketPath = scratch.appendingPathComponent("aggregator.sock").path
        let bufferBytes = 65536
        // Two workloads with ever new deep stacks: the stream carries hundreds of KB/s.
        let deepStacks = try Workload.build("deep_stacks", in: scratch)
        let workloads = try (0..<2).map { _ in try Workload.start(deepStacks, ["60"]) }
        defer { for workload in workloads where workload.isRunning { kill(workload.processIdentifier, SIGKILL) } }
        let sampler = try SamplerProcess(arguments: ["--socket", socketPath, "--samples-per-second", "1999",
                                                     "--buffer-bytes", "\(bufferBytes)", "--log-level", "debug"],
                                          scratch: scratch)
        defer {
            if sampler.process.isRunning {
                kill(sampler.pid, SIGKILL)
                print("tandem-sampler log:\n\(sampler.log)")
            }
        }
        try sampler.waitUntilSampling()

        // Absent: nobody listens for a while; the sampler keeps sampling and retrying.
        usleep(1_000_000)

        // Present: read until the snapshot is through and samples flow.
        var listener = try UnixListener(path: socketPath)
        let first = try listener.accept(timeoutSeconds: 15)
        try first.read(timeoutSeconds: 30) { !$0.samples.isEmpty }

        // Slow: stop reading. The sampler fills the socket, then its own bounded buffer, then drops.
        usleep(3_000_000)
        let backlog = try first.readAvailable()
        // What waited: the sampler's buffer (at most its bound) plus the kernel's socket
        // buffer (net.core.wmem_default of the sampler's socket, payload included), plus
        // at most one drain interval produced while this read ran.
        let socketBuffer = Int((try? String(contentsOfFile: "/proc/sys/net/core/wmem_default", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 212_992
        print("slow reader: \(backlog) bytes were waiting (bound \(bufferBytes) + socket buffer \(socketBuffer))")
        #expect(backlog <= bufferBytes + socketBuffer + 128 << 10)
        // Either a statistics record shows the drops, or process records (new processes
        // keep starting on a busy host) overflowed the bound too and the sampler gave up
        // on this reader; the counts are checked on the next connection either way.
        try first.read(timeoutSeconds: 10, closeIsFine: true) { records in
            records.statistics.contains { $0[.dropsUserBufferFull] > 0 }
        }

        // Gone, then back: a new connection starts over with a header and the full state.
        first.close()
        listener.close()
        usleep(1_000_000)
        listener = try UnixListener(path: socketPath)
        defer { listener.close() }
        let second = try listener.accept(timeoutSeconds: 15)
        try second.read(timeoutSeconds: 30) { records in
            !records.samples.isEmpty && records.statistics.contains { $0[.connections] >= 2 }
        }
        guard case .header(let header) = second.records.first else {
            Issue.record("the new stream does not start with a header")
            return
        }
        #expect(header.samplesPerSecond == 1999)
        #expect(second.records.kernelSymbols.count > 1000)
        for workload in workloads {
            let pid = workload.processIdentifier
            #expect(second.records.processRecords.contains { $0.pid == pid && !$0.isExec }, "pid \(pid) missing from the snapshot")
            #expect(second.records.mappingRecords.contains { $0.pid == pid && !$0.mappings.isEmpty })
        }
        // The snapshot (processes) precedes every sample of the new stream.
        let firstSample = try #require(second.records.firstIndex { if case .sample = $0 { true } else { false } })
        let lastProcess = try #require(second.records.lastIndex { if case .process(let info) = $0 { !info.isExec } else { false } })
        #expect(second.records[..<firstSample].contains { if case .kernelModules = $0 { true } else { false } })
        #expect(lastProcess < firstSample || second.records[..<firstSample].contains { if case .process = $0 { true } else { false } })
        let statistics = try #require(second.records.statistics.last)
        print("after reconnect: connections \(statistics[.connections]), drops disconnected \(statistics[.dropsDisconnected]), user buffer full \(statistics[.dropsUserBufferFull]), ring buffer full \(statistics[.dropsRingBufferFull])")
        #expect(statistics[.dropsDisconnected] > 0)
        #expect(statistics[.dropsUserBufferFull] > 0)
        #expect(statistics[.samplesCollected] >= statistics[.samplesSent] + statistics[.dropsUserBufferFull])
        // The samples queued when the first reader went away were counted as dropped, not sent.
        print("  discarded unsent: \(statistics[.samplesDiscardedUnsent])")
        #expect(statistics[.samplesDiscardedUnsent] > 0)
        #expect(statistics[.samplesDiscardedUnsent] <= statistics[.dropsDisconnected])

        second.close()
        try sampler.stop()
        // Through absence, a slow reader and two readers gone: every sample sent or dropped.
        let exit = try #require(sampler.exitCounts, "no exit line with counts: \(sampler.log.suffix(2000))")
        print("  exit line: \(exit.line)")
        #expect(exit.collected == exit.sent + exit.drops, "\(exit.line)")
    }
}
}
