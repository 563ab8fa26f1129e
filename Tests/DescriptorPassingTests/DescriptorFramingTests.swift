import AggregatorCore
import CTandemBPF
import Foundation
import Logging
import SystemCalls
import Testing
import StreamDecoding
import WireFormat
@testable import SamplerCore
#if canImport(Glibc)
import Glibc
#endif

/// The sampler's `StreamOutput` sends descriptors with `sendmsg` on the first byte of
/// their file descriptor record; the aggregator's `receiveSome` (`recvmsg`) and
/// `ReceivedDescriptors` give each record its descriptor. Real Unix sockets, real kernel.
@Suite("descriptor passing framing")
struct DescriptorFramingTests {
    static let logger = Logger(label: "test")
    static let header = StreamHeader(hostName: "h", kernelRelease: "6.18", bootID: "b",
                                     clock: ClockReference(monotonicNanoseconds: 1, realtimeNanoseconds: 2),
                                     cpuCount: 1, samplesPerSecond: 19, samplerVersion: "t", controlVersion: 1)

    /// A scratch file with `text`; returns its path and (device, inode).
    static func scratchFile(_ text: String) throws -> (path: String, device: UInt64, inode: UInt64) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-fd-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        var status = stat()
        try #require(stat(path, &status) == 0)
        return (path, UInt64(status.st_dev), UInt64(status.st_ino))
    }

    static func inode(of descriptor: Int32) -> UInt64? {
        var status = stat()
        return fstat(descriptor, &status) == 0 ? UInt64(status.st_ino) : nil
    }

    /// Whether `descriptor` is still open on the file description whose offset is `mark`:
    /// a parallel test that reuses the number after it is closed has another offset.
    static func isOpen(_ descriptor: Int32, mark: off_t) -> Bool {
        fcntl(descriptor, F_GETFD) >= 0 && lseek(descriptor, 0, SEEK_CUR) == mark
    }

    static func process(_ pid: Int32) -> Record {
        .process(WireFormat.ProcessInfo(pid: pid, parentPID: 1, startTime: 0, comm: "p\(pid)",
                                        executablePath: "/p", cgroupPath: "/"))
    }

    /// Reads the whole stream in reads of `chunk` bytes; returns each file descriptor
    /// record with the inode of the descriptor it took (nil: none), and the queue.
    static func readAll(_ fd: Int32, chunk: Int) throws -> (answers: [(FileDescriptorAnswer, UInt64?)], unmatched: Int, truncated: Int) {
        var decoder = StreamDecoder()
        var descriptors = ReceivedDescriptors()
        var buffer = [UInt8](repeating: 0, count: chunk)
        var offset = 0
        var truncated = 0
        var answers: [(FileDescriptorAnswer, UInt64?)] = []
        while true {
            let received = try receiveSome(fd, into: &buffer)
            if received.controlTruncated { truncated += 1 }
            descriptors.receive(received.descriptors, with: offset..<offset + received.count)
            if received.count == 0 { break }
            offset += received.count
            decoder.feed(buffer[..<received.count])
            while true {
                let start = decoder.bytesConsumed
                guard let record = try decoder.next() else { break }
                guard case .fileDescriptor(let answer) = record else { continue }
                var takenInode: UInt64?
                if answer.status == .attached, let taken = descriptors.take(forRecordAt: start) {
                    takenInode = inode(of: taken.rawValue)
                }
                answers.append((answer, takenInode))
            }
        }
        try decoder.finish()
        descriptors.closeAll()
        return (answers, descriptors.unmatched, truncated)
    }

    @Test("each descriptor arrives with its own record, whatever the read size", arguments: [1, 7, 64, 1 << 16])
    func descriptorRidesWithItsRecord(chunk: Int) throws {
        let first = try Self.scratchFile("first")
        let second = try Self.scratchFile("second")
        defer { unlink(first.path); unlink(second.path) }
        let socketPath = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-fd-\(UUID().uuidString).sock").path
        let listener = try UnixSocket.listen(path: socketPath, mode: 0o600)
        defer { unlink(socketPath) }

        var output = StreamOutput(destination: .socket(path: socketPath), bufferLimit: 1 << 20)
        let connected = output.connectIfDue(now: 0, header: { Self.header }, logger: Self.logger)
        #expect(connected)
        let accepted = try UnixSocket.accept(listener.rawValue)
        let connection = accepted.rawValue
        output.continueSnapshot(symbols: .empty) { [Self.process(1)] }
        #expect(output.carriesDescriptors)

        let answerA = FileDescriptorAnswer(pid: 7, start: 0x1000, device: first.device, inode: first.inode, status: .attached)
        let answerB = FileDescriptorAnswer(pid: 8, start: 0x2000, device: second.device, inode: second.inode, status: .attached)
        let refusal = FileDescriptorAnswer(pid: 9, start: 0x3000, device: 1, inode: 2, status: .unknownMapping)
        output.appendState(Self.process(2))
        let queuedA = output.appendFileDescriptor(answerA, descriptor: try FileDescriptor.open(first.path, O_RDONLY))
        // Back to back: the second descriptor must not ride on the first record's send.
        let queuedB = output.appendFileDescriptor(answerB, descriptor: try FileDescriptor.open(second.path, O_RDONLY))
        #expect(queuedA && queuedB)
        output.appendFileDescriptor(refusal, descriptor: nil)
        output.appendState(Self.process(3))
        #expect(output.descriptorsInFlight == 2)
        output.finish(reason: .finished, now: 5, logger: Self.logger)
        #expect(output.descriptorsInFlight == 0)

        let result = try Self.readAll(connection, chunk: chunk)
        #expect(result.answers.count == 3)
        #expect(result.answers.map(\.0) == [answerA, answerB, refusal])
        #expect(result.answers.map(\.1) == [first.inode, second.inode, nil])
        #expect(result.unmatched == 0)
        #expect(result.truncated == 0)
    }

    @Test("a descriptor no record takes is closed and counted")
    func extraDescriptorIsClosed() throws {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        var encoder = StreamEncoder(header: Self.header)
        encoder.append(Self.process(1))
        let first = encoder.takeBytes()
        encoder.append(.fileDescriptor(FileDescriptorAnswer(pid: 1, start: 0, device: 1, inode: 1, status: .attached)))
        let second = encoder.takeBytes()
        // An extra descriptor on the process record, none on the file descriptor record.
        let file = try Self.scratchFile("extra")
        defer { unlink(file.path) }
        var extra = open(file.path, O_RDONLY | O_CLOEXEC)
        // The received descriptor shares this file description, and so this offset.
        let mark = off_t(Int.random(in: 1 << 20 ..< 1 << 40))
        _ = lseek(extra, mark, SEEK_SET)
        #expect(first.withUnsafeBytes { tandem_send_with_descriptors(pair[0], $0.baseAddress, $0.count, &extra, 1) } == first.count)
        close(extra)
        #expect(second.withUnsafeBytes { send(pair[0], $0.baseAddress, $0.count, 0) } == second.count)
        shutdown(pair[0], Int32(SHUT_WR))

        var decoder = StreamDecoder()
        var descriptors = ReceivedDescriptors()
        var buffer = [UInt8](repeating: 0, count: 4096)
        var offset = 0
        var received: [Int32] = []
        var taken: [Int32?] = []
        while true {
            let chunk = try receiveSome(pair[1], into: &buffer)
            received += chunk.descriptors.map(\.rawValue)
            descriptors.receive(chunk.descriptors, with: offset..<offset + chunk.count)
            if chunk.count == 0 { break }
            offset += chunk.count
            decoder.feed(buffer[..<chunk.count])
            while true {
                let start = decoder.bytesConsumed
                guard let record = try decoder.next() else { break }
                if case .fileDescriptor = record { taken.append(descriptors.take(forRecordAt: start)?.rawValue) }
            }
        }
        #expect(received.count == 1)
        #expect(taken == [nil], "the file descriptor record came without one")
        #expect(descriptors.unmatched == 1)
        #expect(received.allSatisfy { !Self.isOpen($0, mark: mark) }, "the extra descriptor was closed")
    }

    @Test("more descriptors than the read's buffer holds: MSG_CTRUNC is reported, the ones that fit arrive")
    func truncatedAncillaryData() throws {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        let file = try Self.scratchFile("many")
        defer { unlink(file.path) }
        var many = (0..<20).map { _ in open(file.path, O_RDONLY | O_CLOEXEC) }
        defer { for descriptor in many { close(descriptor) } }
        let bytes: [UInt8] = [1, 2, 3]
        #expect(bytes.withUnsafeBytes { tandem_send_with_descriptors(pair[0], $0.baseAddress, $0.count, &many, 20) } == 3)
        var buffer = [UInt8](repeating: 0, count: 16)
        let received = try receiveSome(pair[1], into: &buffer)
        #expect(received.count == 3)
        #expect(received.controlTruncated)
        #expect(received.descriptors.count == 16)
        #expect(received.descriptors.allSatisfy { Self.inode(of: $0.rawValue) == file.inode })
        #expect(received.descriptors.allSatisfy { fcntl($0.rawValue, F_GETFD) & FD_CLOEXEC != 0 }, "MSG_CMSG_CLOEXEC")
    }

    @Test("a peer that closes with our bytes unread: its bytes, then end of file, not ECONNRESET")
    func peerClosingWithUnreadBytesEndsLikeEndOfFile() throws {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[1]) }
        let theirs: [UInt8] = [9, 8, 7]
        let ours: [UInt8] = [1, 2, 3, 4]
        #expect(theirs.withUnsafeBytes { write(pair[0], $0.baseAddress, $0.count) } == 3)
        #expect(ours.withUnsafeBytes { write(pair[1], $0.baseAddress, $0.count) } == 4)
        close(pair[0])  // with our four bytes unread: the kernel sets ECONNRESET on our side
        var buffer = [UInt8](repeating: 0, count: 16)
        let first = try receiveSome(pair[1], into: &buffer)
        #expect(first.count == 3)
        #expect(Array(buffer.prefix(3)) == theirs)
        let second = try receiveSome(pair[1], into: &buffer)
        #expect(second.count == 0)
    }

    @Test("a capture file gets the record without a descriptor, which is closed")
    func fileDestinationCarriesNoDescriptor() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-fd-\(UUID().uuidString)").path
        defer { unlink(path) }
        let file = try Self.scratchFile("capture")
        defer { unlink(file.path) }
        var output = StreamOutput(destination: .file(path: path), bufferLimit: 1 << 20)
        let opened = output.connectIfDue(now: 0, header: { Self.header }, logger: Self.logger)
        #expect(opened)
        output.continueSnapshot(symbols: .empty) { [] }
        let descriptor = open(file.path, O_RDONLY | O_CLOEXEC)
        let mark = off_t(Int.random(in: 1 << 20 ..< 1 << 40))
        _ = lseek(descriptor, mark, SEEK_SET)
        let answer = FileDescriptorAnswer(pid: 1, start: 0, device: file.device, inode: file.inode, status: .attached)
        let queued = output.appendFileDescriptor(answer, descriptor: FileDescriptor(owning: descriptor))
        #expect(!queued)
        #expect(!Self.isOpen(descriptor, mark: mark))
        output.finish(reason: .finished, now: 1, logger: Self.logger)
        var decoder = StreamDecoder()
        decoder.feed(try Data(contentsOf: URL(fileURLWithPath: path)))
        var answers: [FileDescriptorAnswer] = []
        while let record = try decoder.next() {
            if case .fileDescriptor(let answer) = record { answers.append(answer) }
        }
        try decoder.finish()
        var expected = answer
        expected.status = .noDescriptorChannel
        #expect(answers == [expected])
    }
}
