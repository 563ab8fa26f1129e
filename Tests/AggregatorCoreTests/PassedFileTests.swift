import AggregatorCore
import Foundation
import Symbolization
import SystemCalls
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The files the sampler passes serve symbolization too: the unwind table cache keeps them
/// (bounded), and a file the symbolizer asks for goes through the publisher's one request path.
@Suite struct PassedFileTests {
    static func adopt(_ marked: (descriptor: Int32, mark: off_t)) throws -> OpenFile {
        guard case .success(let file) = OpenFile.adopt(FileDescriptor(owning: marked.descriptor), name: "passed") else {
            throw TestFailure("not adopted")
        }
        return file
    }

    @Test func passedFilesAreBoundedTheLeastRecentlyUsedGoingFirst() throws {
        let cache = UnwindTableCache(maximumPassedFiles: 2)
        let marked = (0..<3).map { _ in FileRequestPublisherTests.openMarked("/usr/bin/true") }
        let identities = (0..<3).map { FileIdentity(device: 1, inode: UInt64(100 + $0)) }
        cache.keepPassedFile(try Self.adopt(marked[0]), identity: identities[0])
        cache.keepPassedFile(try Self.adopt(marked[1]), identity: identities[1])
        #expect(cache.passedFile(identities[0]) != nil)  // used: now the newer of the two
        cache.keepPassedFile(try Self.adopt(marked[2]), identity: identities[2])
        #expect(cache.passedFileCount == 2)
        #expect(cache.passedFile(identities[1]) == nil)
        #expect(!FileRequestPublisherTests.isOpen(marked[1]), "the file let go is closed")
        #expect(FileRequestPublisherTests.isOpen(marked[0]) && FileRequestPublisherTests.isOpen(marked[2]))
    }

    @Test func aFileTheSymbolizerAsksForIsRequestedOnceAndThenServedFromTheCache() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        let passedFiles = ConnectionPassedFiles(cache: cache)
        let mapping = try FileRequestPublisherTests.unreachableMapping(of: "/usr/bin/true", start: 0x5555_0000_2000)
        let pid = getpid()

        // Asked twice before the publisher's thread takes the wish: one request.
        for _ in 0..<2 {
            guard case .awaited = passedFiles.file(for: mapping, pid: pid) else {
                Issue.record("a file not passed yet is awaited")
                return
            }
        }
        for (wanted, wantedPID) in passedFiles.takeWanted() { publisher.requestDescriptor(for: wanted, pid: wantedPID) }
        _ = passedFiles.file(for: mapping, pid: pid)
        for (wanted, wantedPID) in passedFiles.takeWanted() { publisher.requestDescriptor(for: wanted, pid: wantedPID) }
        let requests = try writer.records().filter { if case .fileRequest = $0 { true } else { false } }
        #expect(requests == [.fileRequest(FileRequestPublisherTests.request(mapping))])

        let marked = FileRequestPublisherTests.openMarked("/usr/bin/true")
        publisher.noteAnswer(FileRequestPublisherTests.answer(mapping, .attached), descriptor: FileDescriptor(owning: marked.descriptor))
        guard case .open(let file) = passedFiles.file(for: mapping, pid: pid) else {
            Issue.record("the passed file is not served")
            return
        }
        #expect(file.inode == mapping.inode)
        // Held: not asked for again; and its table is compiled from it too.
        publisher.requestDescriptor(for: mapping, pid: pid)
        #expect(publisher.counters.fileRequestsSent == 1)
        cache.waitForPendingCompiles()
        #expect(cache.statistics.compiledFromDescriptors == 1)
        #expect(FileRequestPublisherTests.isOpen(marked), "kept after the compile")
    }

    @Test func deletedFilesAreNotAwaited() throws {
        var mapping = try FileRequestPublisherTests.unreachableMapping(of: "/usr/bin/true", start: 0x1_0000)
        mapping.path += " (deleted)"
        let passedFiles = ConnectionPassedFiles(cache: UnwindTableCache())
        guard case .unavailable = passedFiles.file(for: mapping, pid: getpid()) else {
            Issue.record("the sampler cannot open a deleted path either")
            return
        }
        #expect(passedFiles.takeWanted().isEmpty)
    }
}

extension ControlStreamServerTests {
    /// A file whose table the cache compiled already (an earlier connection's) is not asked
    /// for by the publisher; when no path opens it for the symbolizer, the symbolizer's
    /// wish reaches the sampler as the same file request.
    @Test func theSymbolizerAsksForAFileNoPathOpensThroughTheConnection() throws {
        try serve { client in
            var header = SyntheticStream.header
            header.controlVersion = 1
            var stream = StreamEncoder(header: header)
            var mappings = try ownExecutableMappings()
            let index = try #require(mappings.mappings.firstIndex { $0.path.hasPrefix("/") && $0.inode != 0 })
            mappings.mappings[index].path = "/nonexistent-tandem" + mappings.mappings[index].path
            let hidden = mappings.mappings[index]
            stream.append(.process(ProcessInfo(pid: getpid(), parentPID: 1, startTime: 0, comm: "tests",
                                               executablePath: "", cgroupPath: "", isExec: false)))
            stream.append(.mappings(mappings))
            stream.appendSample(time: 1_000_000_100, pid: getpid(), tid: getpid(), cpu: 0, kernelStack: [],
                                userStack: [hidden.start + 16])
            writeAll(client, stream.takeBytes())
            var decoder = ControlDecoder()
            var requests: [FileRequest] = []
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            var time: UInt64 = 1_000_000_000
            let deadline = ContinuousClock.now + .seconds(20)
            // Keep the stream going (each read is previewed, which sends what the symbolizer asked for).
            while requests.isEmpty && ContinuousClock.now < deadline {
                var descriptor = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
                if poll(&descriptor, 1, 100) == 0 {
                    time += 1_000_000
                    stream.append(.statistics(SamplerStatistics(time: time, counters: [:])))
                    writeAll(client, stream.takeBytes())
                    continue
                }
                let count = buffer.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
                try #require(count > 0)
                decoder.feed(buffer[..<count])
                while let record = try decoder.next() {
                    if case .fileRequest(let request) = record { requests.append(request) }
                }
            }
            shutdown(client, Int32(SHUT_WR))
            #expect(requests == [FileRequest(pid: getpid(), start: hidden.start, end: hidden.end, device: hidden.device,
                                             inode: hidden.inode)])
        }
    }
}
