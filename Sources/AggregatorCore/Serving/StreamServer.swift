import Dispatch
import Foundation
import Logging
import Synchronization
import SystemCallErrors
#if canImport(Glibc)
import Glibc
#endif

/// Accepts sampler connections on a listening Unix socket and runs one
/// consumer per connection, each on its own thread with its own decoder.
///
/// Only peers whose `SO_PEERCRED` uid is allowed are served; others are
/// refused and logged. A malformed stream closes its own connection with an
/// error naming record and offset; the other connections go on.
public final class StreamServer: Sendable {
    public typealias ConsumerFactory = @Sendable (_ peer: PeerCredentials, _ connection: Int) -> any StreamConsumer

    private let listener: Int32
    private let allowedUIDs: Set<UInt32>
    private let captureDirectory: String?
    private let logger: Logger
    private let makeConsumer: ConsumerFactory
    private let counters = ServerCounters()
    /// Open connections by number, so that `stop()` can end their reads.
    private let connections = Mutex<[Int: Int32]>([:])
    private let stopping = Atomic<Bool>(false)
    private let active = DispatchGroup()

    public init(listener: Int32, allowedUIDs: Set<UInt32>, captureDirectory: String?, logger: Logger,
                makeConsumer: @escaping ConsumerFactory) {
        self.listener = listener
        self.allowedUIDs = allowedUIDs
        self.captureDirectory = captureDirectory
        self.logger = logger
        self.makeConsumer = makeConsumer
    }

    /// Connections accepted, refused, and failed with a malformed stream so far.
    public var statistics: ServerCounters.Snapshot { counters.snapshot }

    /// Accepts connections until `stop()` is called, then waits up to
    /// `drainTimeout` for the open connections to finish and returns; throws if
    /// the listener fails.
    public func run(drainTimeout: DispatchTimeInterval = .seconds(10)) throws(SystemCallError) {
        var connection = 0
        while true {
            let fd: Int32
            do {
                fd = try UnixSocket.accept(listener)
            } catch {
                guard stopping.load(ordering: .acquiring) else { throw error }
                if active.wait(timeout: .now() + drainTimeout) == .timedOut {
                    logger.warning("connections still open after the shutdown timeout; their last data may be lost")
                }
                return
            }
            connection += 1
            let peer: PeerCredentials
            do {
                peer = try PeerCredentials(socket: fd)
            } catch {
                logger.error("refused connection \(connection): \(error)")
                counters.add(refused: 1)
                close(fd)
                continue
            }
            guard allowedUIDs.contains(peer.uid) else {
                logger.warning("refused connection \(connection) from pid \(peer.pid) uid \(peer.uid): uid not in allowed_uids \(allowedUIDs.sorted()); add it to receivers.profiling.allowed_uids to accept it")
                counters.add(refused: 1)
                close(fd)
                continue
            }
            counters.add(accepted: 1)
            let id = connection
            connections.withLock { $0[id] = fd }
            active.enter()
            let thread = Thread { [self] in
                self.serve(fd: fd, peer: peer, connection: id)
                // Out of the registry before closing, so `stop()` never shuts a reused descriptor.
                connections.withLock { _ = $0.removeValue(forKey: id) }
                close(fd)
                active.leave()
            }
            thread.name = "tandem-conn-\(id)"
            thread.start()
        }
    }

    /// Stops accepting and ends every open connection's input as if the sampler
    /// had closed it, so that each consumer finishes normally; `run()` then
    /// waits for them and returns. Safe to call from any thread, e.g. a signal waiter.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        _ = shutdown(listener, Int32(SHUT_RDWR))
        for fd in connections.withLock({ Array($0.values) }) {
            _ = shutdown(fd, Int32(SHUT_RD))
        }
    }

    private func serve(fd: Int32, peer: PeerCredentials, connection: Int) {
        logger.info("connection \(connection) from pid \(peer.pid) uid \(peer.uid)")
        let consumer = makeConsumer(peer, connection)
        var control: ControlChannel?
        if let producer = consumer as? ControlRecordProducer {
            control = ControlChannel(socket: fd)
            producer.attach(control: control!)
        }
        var capture: CaptureWriter?
        if let captureDirectory {
            do {
                capture = try CaptureWriter.create(in: captureDirectory, connection: connection)
            } catch {
                logger.error("connection \(connection): cannot capture the stream: \(error); check that --capture \(captureDirectory) exists and is writable by this user")
            }
        }
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        var bytes = 0
        do {
            while true {
                if let control { try waitForInput(fd, flushing: control) }
                let received = try receiveSome(fd, into: &buffer)
                let count = received.count
                if !received.descriptors.isEmpty || received.controlTruncated {
                    hand(received, at: bytes..<bytes + count, to: consumer)
                }
                if count == 0 { break }
                bytes += count
                let chunk = buffer[..<count]
                if let writer = capture {
                    do {
                        try writer.write(chunk)
                    } catch {
                        logger.error("connection \(connection): capture stopped: \(error)")
                        capture = nil
                    }
                }
                try consumer.consume(chunk)
            }
            consumer.finish(error: nil)
            logger.info("connection \(connection) closed by the sampler after \(bytes) bytes")
        } catch {
            counters.add(failed: 1)
            consumer.finish(error: error)
            logger.error("connection \(connection) closed: \(error)")
        }
    }
}

/// Gives the descriptors of one read to a consumer that takes them; closes them otherwise.
private func hand(_ received: ReceivedChunk, at offsets: Range<Int>, to consumer: any StreamConsumer) {
    guard let receiver = consumer as? DescriptorReceiver else {
        for descriptor in received.descriptors { close(descriptor) }
        return
    }
    if received.controlTruncated { receiver.noteTruncatedDescriptors() }
    if !received.descriptors.isEmpty { receiver.receive(descriptors: received.descriptors, with: offsets) }
}

/// Waits until `fd` has input (or has hung up), writing the control channel's queued
/// bytes whenever the socket takes more. The sampler reads them as they arrive, so a
/// table of megabytes crosses in a few round trips instead of one socket buffer per
/// chunk of input (four a second).
func waitForInput(_ fd: Int32, flushing control: ControlChannel) throws(SystemCallError) {
    while control.queuedByteCount > 0, control.failure == nil {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN | POLLOUT), revents: 0)
        guard poll(&descriptor, 1, -1) >= 0 else {
            if errno == EINTR { continue }
            throw SystemCallError("poll", subject: "fd \(fd)")
        }
        if descriptor.revents & Int16(POLLOUT) != 0 { control.flush() }
        // Input, hang-up or an error: the read that follows tells which.
        if descriptor.revents & ~Int16(POLLOUT) != 0 { return }
    }
}

/// Thread-safe counters of a `StreamServer`.
public final class ServerCounters: Sendable {
    public struct Snapshot: Hashable, Sendable {
        public var accepted = 0
        public var refused = 0
        public var failed = 0
    }

    private let state = Mutex(Snapshot())

    func add(accepted: Int = 0, refused: Int = 0, failed: Int = 0) {
        state.withLock {
            $0.accepted += accepted
            $0.refused += refused
            $0.failed += failed
        }
    }

    public var snapshot: Snapshot { state.withLock { $0 } }
}
