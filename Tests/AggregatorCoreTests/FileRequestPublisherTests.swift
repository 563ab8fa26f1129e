import AggregatorCore
import Foundation
import SystemCalls
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The publisher's side of descriptor passing: a file no path opens is asked for once,
/// a descriptor that matches is compiled and published, every other answer is closed,
/// counted, and not asked again.
@Suite struct FileRequestPublisherTests {
    /// A mapping of `binary`'s text segment under a path this process cannot open
    /// (it does not exist), so that only a descriptor can give its table.
    static func unreachableMapping(of binary: String, start: UInt64) throws -> Mapping {
        var status = stat()
        try #require(stat(binary, &status) == 0)
        return Mapping(start: start, end: start + 0x4000, fileOffset: 0x2000, device: UInt64(status.st_dev),
                       inode: UInt64(status.st_ino), path: "/nonexistent-tandem\(binary)")
    }

    static func request(_ mapping: Mapping) -> FileRequest {
        FileRequest(pid: getpid(), start: mapping.start, end: mapping.end, device: mapping.device, inode: mapping.inode)
    }

    static func answer(_ mapping: Mapping, _ status: FileDescriptorStatus, errorNumber: UInt32 = 0) -> FileDescriptorAnswer {
        FileDescriptorAnswer(pid: getpid(), start: mapping.start, device: mapping.device, inode: mapping.inode,
                             status: status, errorNumber: errorNumber)
    }

    /// A descriptor of `path` whose file offset is a random mark: a parallel test that
    /// reuses the number after it is closed has another offset, so `isOpen` is not fooled.
    static func openMarked(_ path: String) -> (descriptor: Int32, mark: off_t) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        let mark = off_t(Int.random(in: 1 << 20 ..< 1 << 40))
        _ = lseek(descriptor, mark, SEEK_SET)
        return (descriptor, mark)
    }

    static func isOpen(_ marked: (descriptor: Int32, mark: off_t)) -> Bool {
        fcntl(marked.descriptor, F_GETFD) >= 0 && lseek(marked.descriptor, 0, SEEK_CUR) == marked.mark
    }

    @Test func unreadableFileIsRequestedOnceThenCompiledFromTheDescriptor() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        let mapping = try Self.unreachableMapping(of: "/usr/bin/true", start: 0x5555_0000_2000)
        let mappings = Mappings(pid: getpid(), mappings: [mapping])
        publisher.noteMappings(mappings)
        publisher.noteSample(pid: getpid())
        cache.waitForPendingCompiles()
        publisher.poll()
        // Asked again by a new mappings record: still one request.
        publisher.noteMappings(mappings)
        publisher.poll()
        var records = try writer.records()
        #expect(records.filter { if case .fileRequest = $0 { true } else { false } } == [.fileRequest(Self.request(mapping))])
        #expect(publisher.counters.fileRequestsSent == 1)

        let descriptor = Self.openMarked("/usr/bin/true")
        publisher.noteAnswer(Self.answer(mapping, .attached), descriptor: FileDescriptor(owning: descriptor.descriptor))
        #expect(publisher.counters.descriptorsReceived == 1)
        cache.waitForPendingCompiles()
        #expect(Self.isOpen(descriptor), "the cache keeps the descriptor for symbolization")
        #expect(cache.passedFile(FileIdentity(device: mapping.device, inode: mapping.inode)) != nil)
        publisher.poll()
        records = try writer.records()
        let tables = records.compactMap { if case .unwindTable(let table) = $0 { table } else { nil } }
        #expect(tables.count == 1 && tables.first?.inode == mapping.inode)
        guard case .unwindMappings(let last)? = records.last else {
            Issue.record("no mappings record after the table: \(records.map { "\($0)".prefix(40) })")
            return
        }
        #expect(last.entries.map(\.start) == [mapping.start])
        #expect(cache.statistics.compiledFromDescriptors == 1)
    }

    /// A container's binary: the host has a file at the same path, but another one. The
    /// identity check refuses it, and the sampler is asked for the mapped file.
    @Test func samePathOtherFileIsRequested() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        var mapping = try Self.unreachableMapping(of: "/usr/bin/true", start: 0x1_0000)
        mapping.path = "/usr/bin/false"
        publisher.noteMappings(Mappings(pid: getpid(), mappings: [mapping]))
        publisher.noteSample(pid: getpid())
        cache.waitForPendingCompiles()
        publisher.poll()
        #expect(try writer.records().contains(.fileRequest(Self.request(mapping))))
        #expect(cache.statistics.unreadable == 1)
    }

    @Test func refusedAnswersAreCountedAndNotAskedAgain() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        publisher.maximumBusyRetries = 1
        let refused = try Self.unreachableMapping(of: "/usr/bin/true", start: 0x1_0000)
        let busy = try Self.unreachableMapping(of: "/usr/bin/false", start: 0x2_0000)
        let mappings = Mappings(pid: getpid(), mappings: [refused, busy])
        publisher.noteMappings(mappings)
        publisher.noteSample(pid: getpid())
        cache.waitForPendingCompiles()
        publisher.poll()
        #expect(publisher.counters.fileRequestsSent == 2)

        publisher.noteAnswer(Self.answer(refused, .openFailed, errorNumber: UInt32(EACCES)), descriptor: nil)
        // Busy: asked again (once, here), then given up.
        publisher.noteAnswer(Self.answer(busy, .busy), descriptor: nil)
        #expect(publisher.counters.fileRequestsSent == 3)
        publisher.noteAnswer(Self.answer(busy, .busy), descriptor: nil)
        #expect(publisher.counters.fileRequestsRefused == 3)
        publisher.poll()
        publisher.noteMappings(mappings)
        publisher.poll()
        #expect(publisher.counters.fileRequestsSent == 3, "refused files are not asked for again")
        guard case .unwindMappings(let last)? = try writer.records().last else {
            Issue.record("no mappings record")
            return
        }
        #expect(last.entries.isEmpty)
        #expect(publisher.counters.mappingsUncovered >= 2)
    }

    /// The process exited before the sampler answered: another process mapping the same
    /// file may ask again; the one the sampler did not know may not.
    @Test func unknownMappingRefusesOnlyThatProcess() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        let mapping = try Self.unreachableMapping(of: "/usr/bin/true", start: 0x1_0000)
        publisher.noteMappings(Mappings(pid: 100, mappings: [mapping]))
        publisher.noteSample(pid: 100)
        cache.waitForPendingCompiles()
        publisher.poll()
        var answer = Self.answer(mapping, .unknownMapping)
        answer.pid = 100
        publisher.noteAnswer(answer, descriptor: nil)
        publisher.poll()
        publisher.noteMappings(Mappings(pid: 100, mappings: [mapping]))
        publisher.poll()
        #expect(publisher.counters.fileRequestsSent == 1, "not asked again for pid 100")
        publisher.noteMappings(Mappings(pid: 200, mappings: [mapping]))
        publisher.noteSample(pid: 200)
        publisher.poll()
        #expect(publisher.counters.fileRequestsSent == 2, "asked for pid 200")
        let requests = try writer.records().compactMap { if case .fileRequest(let request) = $0 { request.pid } else { nil } }
        #expect(requests == [100, 200])
    }

    @Test func descriptorsThatMatchNoRequestOrNotTheFileAreClosed() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        let mapping = try Self.unreachableMapping(of: "/usr/bin/true", start: 0x1_0000)
        // Never asked for.
        let unrequested = Self.openMarked("/usr/bin/true")
        publisher.noteAnswer(Self.answer(mapping, .attached), descriptor: FileDescriptor(owning: unrequested.descriptor))
        #expect(!Self.isOpen(unrequested))
        #expect(publisher.counters.descriptorsRejected == 1)

        // Asked for, but the descriptor is another file: the fstat check closes it.
        publisher.noteMappings(Mappings(pid: getpid(), mappings: [mapping]))
        publisher.noteSample(pid: getpid())
        cache.waitForPendingCompiles()
        publisher.poll()
        #expect(publisher.counters.fileRequestsSent == 1)
        let other = Self.openMarked("/usr/bin/false")
        publisher.noteAnswer(Self.answer(mapping, .attached), descriptor: FileDescriptor(owning: other.descriptor))
        #expect(!Self.isOpen(other))
        #expect(publisher.counters.descriptorsRejected == 2)
        #expect(publisher.counters.descriptorsReceived == 0)
        #expect(cache.statistics.compiledFromDescriptors == 0)
    }

    @Test func descriptorCheckNamesWhatIsWrong() throws {
        var status = stat()
        try #require(stat("/usr/bin/true", &status) == 0)
        let identity = FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        let file = open("/usr/bin/true", O_RDONLY | O_CLOEXEC)
        let directory = open("/usr/bin", O_RDONLY | O_CLOEXEC | O_DIRECTORY)
        defer { close(file); close(directory) }
        #expect(UnwindTablePublisher.checkDescriptor(file, identity: identity, limit: 1 << 30) == nil)
        #expect(UnwindTablePublisher.checkDescriptor(file, identity: identity, limit: 10)?.contains("above the limit 10") == true)
        #expect(UnwindTablePublisher.checkDescriptor(directory, identity: identity, limit: 1 << 30) == "descriptor of dev \(identity.device) inode \(identity.inode): not a regular file")
        var other = identity
        other.inode += 1
        #expect(UnwindTablePublisher.checkDescriptor(file, identity: other, limit: 1 << 30)?.contains("is not the mapped file's") == true)
        // A failed call names the call, the descriptor and errno's cause.
        let closed = UnwindTablePublisher.checkDescriptor(-1, identity: identity, limit: 1 << 30)
        #expect(closed?.hasPrefix("fstat (descriptor of dev \(identity.device) inode \(identity.inode)) failed: ") == true)
        #expect(closed?.contains("(errno \(EBADF))") == true)
    }
}

@Suite struct ControlChannelUrgencyTests {
    /// A file request is small and waited for: it goes ahead of queued tables, after
    /// the record whose first bytes are already out (and after the header's record).
    @Test func urgentRecordOvertakesQueuedTablesAtARecordBoundary() throws {
        // The socket takes `budget` more bytes, then nothing.
        final class Budget: @unchecked Sendable { var left = 0 }
        let budget = Budget()
        let writer = CollectingWriter()
        let channel = ControlChannel { chunk in
            let count = min(chunk.count, budget.left)
            budget.left -= count
            writer.bytes.append(contentsOf: chunk[..<count])
            return .success(count)
        }
        let table = { (id: UInt32) in
            ControlRecord.unwindTable(UnwindTableRecord(tableID: id, device: 1, inode: UInt64(id), table: .init(repeating: 7, count: 1000)))
        }
        let request = ControlRecord.fileRequest(FileRequest(pid: 1, start: 0x1000, end: 0x2000, device: 1, inode: 99))
        channel.send(table(1))
        channel.send(request, urgent: true)   // behind table 1, the header's record
        budget.left = 300
        channel.flush()                      // table 1 partly out ...
        channel.send(table(2))
        channel.send(table(3))
        channel.send(request, urgent: true)   // ... so after table 1's end and the first request
        budget.left = .max
        channel.flush()
        #expect(channel.queuedByteCount == 0)
        #expect(try writer.records() == [table(1), request, request, table(2), table(3)])
        channel.send(request, urgent: true)   // an empty queue: appended
        #expect(try writer.records().last == request)
    }
}
