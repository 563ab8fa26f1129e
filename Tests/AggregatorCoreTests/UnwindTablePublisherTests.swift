import AggregatorCore
import Dispatch
import Foundation
import Synchronization
import Testing
import UnwindTableCompiler
import UnwindTableFormat
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The executable file mappings of this test process, as the sampler reports them.
func ownExecutableMappings() throws -> Mappings {
    // procfs files have no size: read until the end rather than by stat.
    let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
    try #require(fd >= 0)
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count <= 0 { break }
        bytes.append(contentsOf: buffer[..<count])
    }
    let text = String(decoding: bytes, as: UTF8.self)
    var mappings: [Mapping] = []
    for line in text.split(separator: "\n") {
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count == 6, fields[1].contains("x") else { continue }
        let range = fields[0].split(separator: "-")
        let device = fields[3].split(separator: ":")
        let major = UInt64(device[0], radix: 16)!, minor = UInt64(device[1], radix: 16)!
        let encoded = (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32)
        mappings.append(Mapping(start: UInt64(range[0], radix: 16)!, end: UInt64(range[1], radix: 16)!,
                                fileOffset: UInt64(fields[2], radix: 16)!, device: encoded,
                                inode: UInt64(fields[4])!, path: String(fields[5].drop { $0 == " " })))
    }
    return Mappings(pid: getpid(), mappings: mappings)
}

/// A control channel whose bytes land in memory, taking at most `accept` bytes per write.
final class CollectingWriter: @unchecked Sendable {
    var bytes: [UInt8] = []
    var accept = Int.max

    func channel(queueLimit: Int = 64 << 20) -> ControlChannel {
        ControlChannel(queueLimit: queueLimit) { [self] chunk in
            let count = min(chunk.count, accept)
            bytes.append(contentsOf: chunk[..<count])
            return .success(count)
        }
    }

    func records() throws -> [ControlRecord] {
        var decoder = ControlDecoder()
        decoder.feed(bytes)
        var records: [ControlRecord] = []
        while let record = try decoder.next() { records.append(record) }
        #expect(decoder.bufferedByteCount == 0)
        return records
    }
}

@Suite struct UnwindTablePublisherTests {
    @Test func tablesAndBiasesForThisProcess() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        // Tables only: this process maps libjvm.so too once HotSpotLayoutTableTests, running
        // beside it, has loaded it, and would be named as a JVM.
        publisher.walksHotSpot = false
        let mappings = try ownExecutableMappings()
        publisher.publish(mappings)
        // Compiled in the background: the first set has no entries, the second has them all.
        cache.waitForPendingCompiles()
        publisher.poll()
        let records = try writer.records()
        #expect(records.first == .unwindMappings(UnwindMappings(pid: getpid(), entries: [])))

        var tables: [UInt32: UnwindTable] = [:]
        var tableFiles: [UInt32: FileIdentity] = [:]
        var published: UnwindMappings?
        for record in records {
            switch record {
            case .unwindTable(let table):
                #expect(tables[table.tableID] == nil, "table \(table.tableID) sent twice")
                tables[table.tableID] = try UnwindTable(serialized: table.table)
                tableFiles[table.tableID] = FileIdentity(device: table.device, inode: table.inode)
            case .unwindMappings(let set):
                published = set
            default:
                Issue.record("unexpected \(record)")
            }
        }
        let set = try #require(published)
        #expect(set.pid == getpid())
        // libc and the test binary at least.
        #expect(tables.count >= 2)
        #expect(set.entries.count >= 2)
        for entry in set.entries {
            #expect(tableFiles[entry.tableID] == FileIdentity(device: entry.device, inode: entry.inode))
            #expect(mappings.mappings.contains { $0.start == entry.start && $0.end == entry.end && $0.inode == entry.inode })
        }
        // A libc function's pc, biased, is covered by a usable row of libc's table.
        let getpidAddress = UInt64(UInt(bitPattern: dlsym(nil, "getpid")))
        let libc = try #require(set.entries.first { $0.start <= getpidAddress && getpidAddress < $0.end })
        let row = try #require(tables[libc.tableID]?.lookup(address: getpidAddress &+ libc.bias))
        if case .registerOffset(.rsp, let offset) = row.cfa { #expect(offset == 8) } else {
            Issue.record("getpid's first row is \(row.cfa), not rsp+8")
        }
        #expect(publisher.counters.tablesSent == tables.count)
        #expect(cache.statistics.compiled >= tables.count)

        // The same mappings again: no table is sent twice, the set is sent again.
        writer.bytes.removeAll()
        publisher.publish(mappings)
        let again = try decodeWithoutHeader(writer.bytes)
        #expect(again.allSatisfy { if case .unwindMappings = $0 { true } else { false } })
        #expect(again.count == 1)
    }

    @Test func onlySampledProcessesGetTables() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        var mappings = try ownExecutableMappings()
        publisher.noteMappings(mappings)
        mappings.pid = getpid() + 1
        publisher.noteMappings(mappings)
        publisher.forget(pid: getpid() + 1)  // never sampled: nothing to take back
        #expect(writer.bytes.isEmpty)
        publisher.noteSample(pid: getpid())
        publisher.noteSample(pid: getpid())
        cache.waitForPendingCompiles()
        publisher.poll()
        let sets = try writer.records().compactMap { record -> UnwindMappings? in
            if case .unwindMappings(let set) = record { set } else { nil }
        }
        #expect(sets.map(\.pid) == [getpid(), getpid()])
        #expect(sets.last?.entries.isEmpty == false)
    }

    @Test func tablesTheSamplerEvictedAreSentAgainUnderNewIDs() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        let mappings = try ownExecutableMappings()
        publisher.noteMappings(mappings)
        publisher.noteSample(pid: getpid())
        cache.waitForPendingCompiles()
        publisher.poll()
        func tableIDs(_ records: [ControlRecord]) -> [UInt32] {
            records.compactMap { if case .unwindTable(let table) = $0 { table.tableID } else { nil } }
        }
        let first = try writer.records()
        let sentBefore = tableIDs(first)
        try #require(sentBefore.count >= 2)
        let byteCount = writer.bytes.count

        // An evicted table no published set uses changes nothing.
        publisher.noteEvicted([9_999])
        #expect(writer.bytes.count == byteCount)

        // One the process uses: its set is published again, with that table under a new id.
        let evicted = sentBefore[0]
        publisher.noteEvicted([evicted])
        let again = Array(try writer.records().dropFirst(first.count))
        let resent = tableIDs(again)
        #expect(resent.count == 1)
        #expect(resent.allSatisfy { !sentBefore.contains($0) })
        guard case .unwindMappings(let set) = again.last else {
            Issue.record("no mappings record after the eviction: \(again)")
            return
        }
        #expect(set.pid == getpid())
        #expect(!set.entries.contains { $0.tableID == evicted })
        #expect(set.entries.contains { $0.tableID == resent.first })
        #expect(publisher.counters.tablesEvicted == 2)

        // Evicted again and again (a budget too small for the processes running at once):
        // published again at most three times in all, then left alone and counted.
        var current = try #require(resent.first)
        for round in 2...4 {
            let before = try writer.records().count
            publisher.noteEvicted([current])
            let records = Array(try writer.records().dropFirst(before))
            if round <= 3 {
                current = try #require(tableIDs(records).first, "round \(round): \(records.count) records")
            } else {
                #expect(records.isEmpty)
            }
        }
        #expect(publisher.counters.republishesSkipped == 1)
    }

    @Test func processesThatStopRunningGiveTheirTablesBackUntilTheyRunAgain() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        publisher.idleRetirementNanoseconds = 30_000_000_000
        var mappings = try ownExecutableMappings()
        let busy = getpid() + 1
        publisher.noteMappings(mappings)
        mappings.pid = busy
        publisher.noteMappings(mappings)
        publisher.noteSample(pid: getpid(), time: 1_000_000_000)
        publisher.noteSample(pid: busy, time: 1_000_000_000)
        cache.waitForPendingCompiles()
        publisher.poll()
        func sets(_ records: [ControlRecord]) -> [UnwindMappings] {
            records.compactMap { if case .unwindMappings(let set) = $0 { set } else { nil } }
        }
        let published = try writer.records().count

        // 40 s later only `busy` runs: this process's set is taken back, `busy` keeps its own.
        publisher.noteSample(pid: busy, time: 20_000_000_000)
        publisher.noteSample(pid: busy, time: 41_000_000_000)
        let retired = sets(Array(try writer.records().dropFirst(published)))
        #expect(retired == [UnwindMappings(pid: getpid(), entries: [])])
        #expect(publisher.counters.processesRetired == 1)

        // Its next sample publishes it again, with the tables the sampler still has.
        let before = try writer.records().count
        publisher.noteSample(pid: getpid(), time: 42_000_000_000)
        let again = Array(try writer.records().dropFirst(before))
        #expect(again.allSatisfy { if case .unwindTable = $0 { false } else { true } }, "no table sent twice")
        #expect(sets(again).count == 1 && sets(again).first?.pid == getpid() && sets(again).first?.entries.isEmpty == false)
    }

    @Test func excludedProcessesGetNoTables() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        publisher.excludedPIDs = [getpid()]
        publisher.noteMappings(try ownExecutableMappings())
        publisher.noteSample(pid: getpid(), time: 1)
        cache.waitForPendingCompiles()
        publisher.poll()
        #expect(writer.bytes.isEmpty)
        publisher.excludedPIDs = []
        publisher.noteSample(pid: getpid(), time: 2)
        #expect(!writer.bytes.isEmpty)
    }

    @Test func tablesAboveTheSamplersLimitAreNotSent() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        publisher.maximumTableBytes = 1024
        let mappings = try ownExecutableMappings()
        for mapping in mappings.mappings {
            _ = cache.table(for: FileIdentity(device: mapping.device, inode: mapping.inode), paths: [mapping.path])
        }
        publisher.publish(mappings)
        for record in try writer.records() {
            if case .unwindTable(let table) = record { #expect(table.table.count <= 1024) }
        }
    }

    @Test func aMappingOfAnotherFileGetsNoTable() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        // Tables only: this test process maps libjvm.so and libruby when their suites ran
        // first, and an interpreter's file no path opens is asked for before any table.
        publisher.walksCPython = false
        publisher.walksHotSpot = false
        publisher.walksPerl = false
        publisher.walksPHP = false
        publisher.walksBEAM = false
        publisher.walksRuby = false
        publisher.walksV8 = false
        var mappings = try ownExecutableMappings()
        // Same path, another inode: the file on disk is not the mapped one.
        mappings.mappings = mappings.mappings.map { var m = $0; m.inode &+= 1_000_003; return m }
        mappings.mappings.append(Mapping(start: 0x1000, end: 0x2000, fileOffset: 0, device: 0, inode: 0, path: "[vdso]"))
        publisher.publish(mappings)
        cache.waitForPendingCompiles()
        publisher.poll()
        let records = try writer.records()
        // No table; the mapped files are asked of the sampler instead (descriptor passing),
        // at most `maximumOutstandingRequests` at a time.
        #expect(records.first == .unwindMappings(UnwindMappings(pid: getpid(), entries: [])))
        #expect(records.last == .unwindMappings(UnwindMappings(pid: getpid(), entries: [])))
        #expect(!records.contains { if case .unwindTable = $0 { true } else { false } })
        let requests = records.count { if case .fileRequest = $0 { true } else { false } }
        #expect(requests == min(publisher.maximumOutstandingRequests, Set(mappings.mappings.filter { $0.inode != 0 }.map(\.inode)).count))
        #expect(cache.statistics.compiled == 0)
        #expect(cache.statistics.unreadable > 0)
    }

    @Test func aFullQueueDropsRecordsAndNoMappingNamesAnUnsentTable() throws {
        let writer = CollectingWriter()
        writer.accept = 0  // the sampler reads nothing
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(queueLimit: 64 << 10),
                                             logger: quietLogger)
        let mappings = try ownExecutableMappings()
        publisher.noteMappings(mappings)
        publisher.noteSample(pid: getpid())
        cache.waitForPendingCompiles()
        publisher.poll()
        writer.accept = .max
        publisher.forget(pid: getpid())  // flushes what was queued, then this record
        let records = try writer.records()
        var sent: Set<UInt32> = []
        for record in records {
            if case .unwindTable(let table) = record { sent.insert(table.tableID) }
            if case .unwindMappings(let set) = record {
                #expect(set.entries.allSatisfy { sent.contains($0.tableID) })
            }
        }
        // Some tables (the test binary's or libswiftCore's) are larger than the queue.
        #expect(publisher.counters.tablesSent < Set(mappings.mappings.map(\.inode)).count)
        #expect(records.last == .unwindMappings(UnwindMappings(pid: getpid(), entries: [])))
    }

    /// The connection previews bytes as it reads them, ahead of a symbolizer that is
    /// behind: a process's tables go out from the preview of its first sample, and
    /// consuming the same bytes later publishes nothing twice.
    @Test func aPreviewedSamplePublishesTablesBeforeItsBytesAreConsumed() throws {
        let runtime = try AggregatorRuntime(configuration: DefaultConfiguration.load(path: nil), outputs: OutputPaths(),
                                            logger: quietLogger)
        let mappings = try ownExecutableMappings()
        let cache = UnwindTableCache()
        for mapping in mappings.mappings {
            _ = cache.table(for: FileIdentity(device: mapping.device, inode: mapping.inode), paths: [mapping.path])
        }
        let writer = CollectingWriter()
        let pipeline = StreamPipeline(runtime: runtime, logger: quietLogger, unwindTables: cache)
        pipeline.attach(control: writer.channel())
        var header = SyntheticStream.header
        header.controlVersion = ControlStream.currentVersion
        var stream = StreamEncoder(header: header)
        stream.append(.process(ProcessInfo(pid: getpid(), parentPID: 1, startTime: 0, comm: "tests",
                                           executablePath: "", cgroupPath: "", isExec: false)))
        stream.append(.mappings(mappings))
        stream.appendSample(time: 1_000_000_100, pid: getpid(), tid: getpid(), cpu: 0, kernelStack: [], userStack: [0x1234])
        let bytes = stream.takeBytes()

        pipeline.preview(bytes[...])
        let previewed = try writer.records()
        let sets = previewed.compactMap { record -> UnwindMappings? in
            if case .unwindMappings(let set) = record { set } else { nil }
        }
        #expect(sets.count == 1)
        #expect(sets.first?.pid == getpid())
        #expect(sets.first?.entries.isEmpty == false)

        try pipeline.consume(bytes[...])
        #expect(try writer.records().count == previewed.count)
        pipeline.finish(error: nil)
        try runtime.shutdown()
    }
}

/// Decodes records written after the control header by a channel that already wrote it.
func decodeWithoutHeader(_ bytes: [UInt8]) throws -> [ControlRecord] {
    var decoder = ControlDecoder()
    decoder.feed(ControlStream.magic + [UInt8(ControlStream.currentVersion)])
    decoder.feed(bytes)
    var records: [ControlRecord] = []
    while let record = try decoder.next() { records.append(record) }
    return records
}

/// The pipeline behind a real server socket, with a fake sampler end.
@Suite(.serialized) struct ControlStreamServerTests {
    func serve(_ body: (Int32) throws -> Void) throws {
        let directory = try temporaryDirectory()
        let path = directory + "/tandem.sock"
        let listener = try UnixSocket.listen(path: path)
        let runtime = try AggregatorRuntime(configuration: DefaultConfiguration.load(path: nil),
                                            outputs: OutputPaths(metrics: directory + "/metrics.jsonl"), logger: quietLogger)
        // Compiled before the connection: the first reply carries every table.
        let cache = UnwindTableCache()
        for mapping in try ownExecutableMappings().mappings {
            _ = cache.table(for: FileIdentity(device: mapping.device, inode: mapping.inode), paths: [mapping.path])
        }
        let server = StreamServer(listener: listener, allowedUIDs: [getuid()], captureDirectory: nil, logger: quietLogger) { _, _ in
            StreamPipeline(runtime: runtime, logger: quietLogger, unwindTables: cache)
        }
        let returned = DispatchSemaphore(value: 0)
        let thread = Thread {
            try? server.run()
            returned.signal()
        }
        thread.start()
        let client = try UnixSocket.connect(path: path).release()
        try body(client)
        close(client)
        server.stop()
        returned.wait()
        try runtime.shutdown()
    }

    func samplerStream(controlVersion: UInt64, encoder: inout StreamEncoder?, end: Bool = true) throws -> [UInt8] {
        var header = SyntheticStream.header
        header.controlVersion = controlVersion
        var stream = StreamEncoder(header: header)
        stream.append(.process(ProcessInfo(pid: getpid(), parentPID: 1, startTime: 0, comm: "tests",
                                           executablePath: "", cgroupPath: "", isExec: false)))
        stream.append(.mappings(try ownExecutableMappings()))
        // Tables are sent for processes that are sampled.
        stream.appendSample(time: 1_000_000_100, pid: getpid(), tid: getpid(), cpu: 0, kernelStack: [],
                            userStack: [0x1234])
        if end { stream.append(.endOfStream(EndOfStream(time: 2_000_000_000, reason: .finished))) }
        defer { encoder = stream }
        return stream.takeBytes()
    }

    /// Everything the server writes until it closes the connection.
    func readToEnd(_ fd: Int32) -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { return all }
            all.append(contentsOf: buffer[..<count])
        }
    }

    @Test func aSamplerThatReadsControlRecordsGetsTheTables() throws {
        try serve { client in
            var encoder: StreamEncoder?
            writeAll(client, try samplerStream(controlVersion: 1, encoder: &encoder, end: false))
            var decoder = ControlDecoder()
            var tables = 0
            var sets: [UnwindMappings] = []
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            var time: UInt64 = 1_000_000_000
            // Like the sampler: read what comes back, and keep the stream going
            // (statistics records), which is when the aggregator writes what is queued.
            while sets.isEmpty {
                var descriptor = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
                if poll(&descriptor, 1, 100) == 0 {
                    time += 1_000_000
                    encoder?.append(.statistics(SamplerStatistics(time: time, counters: [:])))
                    writeAll(client, encoder?.takeBytes() ?? [])
                    continue
                }
                let count = buffer.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
                try #require(count > 0)
                decoder.feed(buffer[..<count])
                while let record = try decoder.next() {
                    if case .unwindTable(let table) = record {
                        tables += 1
                        _ = try UnwindTable(serialized: table.table)
                    }
                    if case .unwindMappings(let set) = record { sets.append(set) }
                }
            }
            shutdown(client, Int32(SHUT_WR))
            #expect(tables >= 2)
            #expect(sets.count == 1)
            #expect(sets.first?.pid == getpid())
            #expect(sets.first?.entries.count ?? 0 >= 2)
        }
    }

    @Test func aSamplerThatDoesNotAskGetsNothing() throws {
        try serve { client in
            var encoder: StreamEncoder?
            writeAll(client, try samplerStream(controlVersion: 0, encoder: &encoder))
            shutdown(client, Int32(SHUT_WR))
            #expect(readToEnd(client).isEmpty)
        }
    }
}
