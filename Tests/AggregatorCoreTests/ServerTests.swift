import AggregatorCore
import Dispatch
import Foundation
import Logging
import Synchronization
import Testing
import StreamDecoding
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// Keeps every log message, for tests that check what was logged.
final class RecordedLog: Sendable {
    let messages = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "recorded") { _ in RecordingHandler(log: self) }
    }

    struct RecordingHandler: LogHandler {
        let log: RecordedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            log.messages.withLock { $0.append("\(event.level): \(event.message)") }
        }
    }
}

/// A consumer that decodes the stream and remembers how it ended.
final class CountingConsumer: StreamConsumer, @unchecked Sendable {
    var decoder = StreamDecoder()
    let samples = Mutex(0)
    let ending = Mutex<String?>(nil)

    func consume(_ bytes: ArraySlice<UInt8>) throws {
        decoder.feed(bytes)
        while let record = try decoder.next() {
            if case .sample = record { samples.withLock { $0 += 1 } }
        }
    }

    func finish(error: (any Error)?) {
        ending.withLock { $0 = error.map { "\($0)" } ?? "clean" }
    }
}

/// Writes all of `bytes` to `fd`.
func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written > 0 else { return }
        offset += written
    }
}

/// Blocks until the peer closes `fd` (read returns 0 or fails).
func waitForClose(_ fd: Int32) {
    var byte: UInt8 = 0
    while read(fd, &byte, 1) > 0 {}
}

/// The consumers a server made, in order.
final class ConsumerList: Sendable {
    let items = Mutex<[CountingConsumer]>([])
}

@Suite(.serialized) struct ServerTests {
    func startServer(allowed: Set<UInt32>, log: RecordedLog,
                     consumers: ConsumerList) throws -> (StreamServer, String, DispatchSemaphore) {
        let path = try temporaryDirectory() + "/tandem.sock"
        let listener = try UnixSocket.listen(path: path)
        let server = StreamServer(listener: listener, allowedUIDs: allowed, captureDirectory: nil,
                                  logger: log.logger) { _, _ in
            let consumer = CountingConsumer()
            consumers.items.withLock { $0.append(consumer) }
            return consumer
        }
        let returned = DispatchSemaphore(value: 0)
        let thread = Thread {
            try? server.run()
            returned.signal()
        }
        thread.start()
        return (server, path, returned)
    }

    @Test func aPeerWhoseUIDIsNotAllowedIsRefusedAndLogged() throws {
        let log = RecordedLog()
        let consumers = ConsumerList()
        let (server, path, returned) = try startServer(allowed: [getuid() &+ 4242], log: log, consumers: consumers)
        let client = try UnixSocket.connect(path: path).release()
        waitForClose(client)
        close(client)
        server.stop()
        returned.wait()
        #expect(server.statistics.refused == 1)
        #expect(server.statistics.accepted == 0)
        #expect(consumers.items.withLock { $0.isEmpty })
        #expect(log.messages.withLock { $0.contains { $0.contains("refused connection 1") && $0.contains("uid \(getuid())") } })
    }

    @Test func aMalformedStreamClosesOnlyItsOwnConnection() throws {
        let log = RecordedLog()
        let consumers = ConsumerList()
        let (server, path, returned) = try startServer(allowed: [getuid()], log: log, consumers: consumers)

        let good = try UnixSocket.connect(path: path).release()
        let bad = try UnixSocket.connect(path: path).release()
        writeAll(bad, Array("GET / HTTP/1.1\r\n\r\n".utf8))
        waitForClose(bad)  // the server hangs up on the bad stream...
        close(bad)
        writeAll(good, SyntheticStream.bytes())  // ...and still serves the good one
        shutdown(good, Int32(SHUT_WR))
        waitForClose(good)
        close(good)
        server.stop()
        returned.wait()

        let endings = consumers.items.withLock { $0.map { ($0.ending.withLock { $0 } ?? "open", $0.samples.withLock { $0 }) } }
        #expect(endings.count == 2)
        #expect(endings.contains { $0.0 == "clean" && $0.1 == 100 })
        #expect(endings.contains { $0.0.contains("header at byte offset 0") && $0.0.contains("TNDM") })
        #expect(server.statistics.failed == 1)
    }

    @Test func socketActivationTakesOnlyItsOwnDescriptors() {
        let mine = ["LISTEN_PID": "\(getpid())", "LISTEN_FDS": "2"]
        #expect(SocketActivation.listeningDescriptors(environment: mine) == [3, 4])
        let other = ["LISTEN_PID": "\(getpid() + 1)", "LISTEN_FDS": "2"]
        #expect(SocketActivation.listeningDescriptors(environment: other).isEmpty)
        #expect(SocketActivation.listeningDescriptors(environment: [:]).isEmpty)
    }
}
