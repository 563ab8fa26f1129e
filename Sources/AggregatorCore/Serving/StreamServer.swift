import Dispatch
import Foundation
import Logging
import RateLimitedLogging
import Synchronization
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Accepts sampler connections on a listening Unix socket and runs one
/// consumer per connection, each on its own thread with its own decoder.
///
/// Only peers whose `SO_PEERCRED` uid is allowed are served; others are
/// refused and logged (rate-limited: a peer cannot flood the log). At most
/// `limits.maxConnections` are served at once; more are closed at once and
/// counted, as are connections no thread could be started for. A malformed
/// stream closes its own connection with an error naming record and offset; the
/// other connections go on. A watchdog abandons a connection whose consumer has been
/// busy on one call for longer than `limits.stuckAfter`, and closes one that has sent
/// nothing for `limits.silentAfter` (see ``Limits``).
public final class StreamServer: Sendable {
    public typealias ConsumerFactory = @Sendable (_ peer: PeerCredentials, _ connection: Int) -> any StreamConsumer

    /// The bounds one server keeps.
    public struct Limits: Hashable, Sendable {
        /// Connections served at once (`receivers.profiling.max_connections`).
        public var maxConnections: Int
        /// A connection whose thread has spent this long in one call into its consumer
        /// (or its capture file) is abandoned: its socket is shut down so the sampler
        /// reconnects with a fresh stream, and what it held is counted as lost. The
        /// thread cannot be killed; it leaves when the call returns. Two minutes: a debug
        /// build on a loaded host has spent over 30 s on one chunk (the first symbolization
        /// of large files), and a connection abandoned by mistake loses its stream.
        public var stuckAfter: Duration
        /// A connection that has sent no byte this long after it was accepted is closed, so
        /// that idle connections cannot hold every `maxConnections` slot: a sampler sends its
        /// stream header as soon as it connects.
        public var silentAfter: Duration
        /// At most one log line per this interval for each kind of refusal.
        public var logInterval: Duration

        public init(maxConnections: Int = 16, stuckAfter: Duration = .seconds(120), silentAfter: Duration = .seconds(10),
                    logInterval: Duration = .seconds(10)) {
            self.maxConnections = maxConnections
            self.stuckAfter = stuckAfter
            self.silentAfter = silentAfter
            self.logInterval = logInterval
        }
    }

    private let listener: FileDescriptor
    private let allowedUIDs: Set<UInt32>
    private let captureDirectory: String?
    fileprivate let logger: Logger
    private let makeConsumer: ConsumerFactory
    private let limits: Limits
    private let startThread: ThreadStarter
    private let counters = ServerCounters()
    /// Open connections by number, so that `stop()` can end their reads and the
    /// watchdog can see what each is doing.
    private let connections = Mutex<[Int: OpenConnection]>([:])
    private let stopping = Atomic<Bool>(false)
    private let runEnded = Atomic<Bool>(false)
    private let active = DispatchGroup()
    /// Wakes the watchdog early when `run()` ends.
    private let watchdogWake = DispatchSemaphore(value: 0)
    private let refusedLog: RateLimitedLog
    private let unservedLog: RateLimitedLog
    private let silentLog: RateLimitedLog

    /// Starts a named thread or throws; replaced in tests to make thread creation fail.
    typealias ThreadStarter = @Sendable (_ name: String, _ body: @escaping @Sendable () -> Void) throws(SystemCallError) -> Void

    public convenience init(listener: consuming FileDescriptor, allowedUIDs: Set<UInt32>, captureDirectory: String?, logger: Logger,
                            limits: Limits = Limits(), makeConsumer: @escaping ConsumerFactory) {
        self.init(listener: listener, allowedUIDs: allowedUIDs, captureDirectory: captureDirectory, logger: logger,
                  limits: limits, startThread: Self.startDetachedThread, makeConsumer: makeConsumer)
    }

    /// The thread starter of a real server.
    static let startDetachedThread: ThreadStarter = { name, body throws(SystemCallError) in
        try DetachedThread.start(name: name, body)
    }

    init(listener: consuming FileDescriptor, allowedUIDs: Set<UInt32>, captureDirectory: String?, logger: Logger,
         limits: Limits, startThread: @escaping ThreadStarter, makeConsumer: @escaping ConsumerFactory) {
        self.listener = listener
        self.allowedUIDs = allowedUIDs
        self.captureDirectory = captureDirectory
        self.logger = logger
        self.makeConsumer = makeConsumer
        self.limits = limits
        self.startThread = startThread
        refusedLog = RateLimitedLog(what: "refused connections", interval: limits.logInterval)
        unservedLog = RateLimitedLog(what: "unserved connections", interval: limits.logInterval)
        silentLog = RateLimitedLog(what: "silent connections", interval: limits.logInterval)
    }

    /// Connections accepted, refused, over the limit, failed and abandoned so far.
    public var statistics: ServerCounters.Snapshot { counters.snapshot }

    /// Connections holding a `maxConnections` slot: served, or still being closed.
    var openConnectionCount: Int { connections.withLock { $0.count } }

    /// Accepts connections until `stop()` is called, then waits up to
    /// `drainTimeout` for the open connections to finish and returns; throws if
    /// the listener fails or the watchdog cannot be started.
    public func run(drainTimeout: DispatchTimeInterval = .seconds(10)) throws(SystemCallError) {
        try startThread("tandem-watchdog") { [self] in watch() }
        defer {
            runEnded.store(true, ordering: .releasing)
            watchdogWake.signal()
            refusedLog.flushIfDue(.warning, to: logger, force: true)
            unservedLog.flushIfDue(.warning, to: logger, force: true)
            silentLog.flushIfDue(.warning, to: logger, force: true)
        }
        var connection = 0
        while true {
            // Held by reference: the connection's thread takes it along.
            let socket: FileDescriptorReference
            do {
                socket = FileDescriptorReference(try UnixSocket.accept(listener.rawValue))
            } catch {
                guard stopping.load(ordering: .acquiring) else { throw error }
                if active.wait(timeout: .now() + drainTimeout) == .timedOut {
                    logUnfinished(after: drainTimeout)
                }
                return
            }
            connection += 1
            let fd = socket.rawValue
            let peer: PeerCredentials
            do {
                peer = try PeerCredentials(socket: fd)
            } catch {
                refusedLog.log(.error, "refused connection \(connection): \(error)", to: logger)
                counters.add { $0.refused += 1 }
                continue  // closes the socket
            }
            guard allowedUIDs.contains(peer.uid) else {
                refusedLog.log(.warning, "refused connection \(connection) from pid \(peer.pid) uid \(peer.uid): uid not in allowed_uids \(allowedUIDs.sorted()); add it to receivers.profiling.allowed_uids to accept it", to: logger)
                counters.add { $0.refused += 1 }
                continue  // closes the socket
            }
            let id = connection
            let admitted = connections.withLock { open in
                guard open.count < limits.maxConnections else { return false }
                open[id] = OpenConnection(fd: fd)
                return true
            }
            guard admitted else {
                unservedLog.log(.warning, "refused connection \(id) from pid \(peer.pid) uid \(peer.uid): \(limits.maxConnections) connections are open already (receivers.profiling.max_connections); a host normally runs one sampler, so look for stray ones, or raise the limit", to: logger)
                counters.add { $0.overLimit += 1 }
                continue  // closes the socket
            }
            active.enter()
            do {
                try startThread("tandem-conn-\(id)") { [self] in
                    self.serve(fd: fd, peer: peer, connection: id)
                    // Out of the registry before closing, so `stop()` never shuts a reused descriptor.
                    connections.withLock { _ = $0.removeValue(forKey: id) }
                    _ = socket.take()  // closed
                    active.leave()
                }
                counters.add { $0.accepted += 1 }
            } catch {
                connections.withLock { _ = $0.removeValue(forKey: id) }
                _ = socket.take()  // closed
                active.leave()
                counters.add { $0.threadFailures += 1 }
                unservedLog.log(.error, "closed connection \(id) from pid \(peer.pid) unserved: \(error); the service's task limit (systemd TasksMax=, RLIMIT_NPROC) leaves no thread for it", to: logger)
            }
        }
    }

    /// Stops accepting and ends every open connection's input as if the sampler
    /// had closed it, so that each consumer finishes normally; `run()` then
    /// waits for them and returns. Safe to call from any thread, e.g. a signal waiter.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        _ = shutdown(listener.rawValue, Int32(SHUT_RDWR))
        for fd in connections.withLock({ $0.values.map(\.fd) }) {
            _ = shutdown(fd, Int32(SHUT_RD))
        }
    }

    /// The watchdog: abandons connections stuck in one call, and reports the refusals
    /// the rate-limited logs left out once their interval has passed.
    private func watch() {
        // A quarter of the bound, so a stuck call is noticed within 1.25 times it; at most 1 s
        // so that left-out refusals are reported soon after their interval.
        let period = min(max(min(limits.stuckAfter, limits.silentAfter) / 4, .milliseconds(10)), .seconds(1))
        let tick = DispatchTimeInterval.nanoseconds(Int(period.components.seconds) * 1_000_000_000
                                                    + Int(period.components.attoseconds / 1_000_000_000))
        while !runEnded.load(ordering: .acquiring) {
            _ = watchdogWake.wait(timeout: .now() + tick)
            refusedLog.flushIfDue(.warning, to: logger)
            unservedLog.flushIfDue(.warning, to: logger)
            silentLog.flushIfDue(.warning, to: logger)
            abandonStuckConnections()
            closeSilentConnections()
        }
    }

    private func abandonStuckConnections() {
        let now = ContinuousClock.now
        let stuck: [(id: Int, fd: Int32, busy: Duration, activity: String)] = connections.withLock { open in
            var found: [(Int, Int32, Duration, String)] = []
            for (id, state) in open where !state.abandoned {
                guard let since = state.busySince, since.duration(to: now) >= limits.stuckAfter else { continue }
                open[id]!.abandoned = true
                found.append((id, state.fd, since.duration(to: now), state.activity))
            }
            return found
        }
        for connection in stuck.sorted(by: { $0.id < $1.id }) {
            counters.add { $0.stuck += 1 }
            logger.error("connection \(connection.id) is stuck: \(connection.activity) for \(connection.busy) (the bound is \(limits.stuckAfter)); abandoning it: what it held is lost, and its socket is shut down so that the sampler reconnects with a fresh stream")
            // The thread stays inside the call; the descriptor stays open (and registered) until it returns.
            _ = shutdown(connection.fd, Int32(SHUT_RDWR))
        }
    }

    /// Shuts down connections that have sent nothing for `limits.silentAfter`: their thread's
    /// read returns, and the connection ends with an empty stream.
    private func closeSilentConnections() {
        let now = ContinuousClock.now
        let candidates: [(id: Int, fd: Int32)] = connections.withLock { open in
            open.filter { !$0.value.received && !$0.value.silenced && $0.value.acceptedAt.duration(to: now) >= limits.silentAfter }
                .map { ($0.key, $0.value.fd) }
        }
        // Bytes waiting in the socket are not silence: the thread may still be creating its
        // consumer and has not read yet.
        let silent = candidates.filter { !hasInput($0.fd) }
        connections.withLock { open in for connection in silent { open[connection.id]?.silenced = true } }
        for connection in silent.sorted(by: { $0.id < $1.id }) {
            counters.add { $0.silent += 1 }
            silentLog.log(.warning, "connection \(connection.id) sent nothing in \(limits.silentAfter); closing it so that it holds no max_connections slot (a sampler sends its stream header at once)", to: logger)
            _ = shutdown(connection.fd, Int32(SHUT_RDWR))
        }
    }

    /// Names what each connection still open after the shutdown timeout was doing.
    private func logUnfinished(after drainTimeout: DispatchTimeInterval) {
        let now = ContinuousClock.now
        let open = connections.withLock { $0.sorted { $0.key < $1.key } }
        if open.isEmpty {
            logger.warning("connections still open after the shutdown timeout; their last data may be lost")
        }
        for (id, state) in open {
            let doing = state.busySince.map { "\(state.activity) for \($0.duration(to: now))" } ?? "waiting for input"
            counters.add { $0.unfinished += 1 }
            logger.error("connection \(id) still open after the shutdown timeout (\(drainTimeout)), \(doing)\(state.abandoned ? ", abandoned as stuck" : ""): its unprocessed data is lost")
        }
    }

    /// Marks connection `id` busy with `activity` (or idle with nil), for the watchdog;
    /// returns whether the watchdog abandoned it meanwhile.
    private func note(_ id: Int, _ activity: String?) -> Bool {
        connections.withLock { open in
            open[id]?.busySince = activity == nil ? nil : ContinuousClock.now
            open[id]?.activity = activity ?? ""
            return open[id]?.abandoned ?? false
        }
    }

    /// Runs `body` with connection `id` marked busy with `activity`.
    private func busy<T>(_ id: Int, _ activity: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        _ = note(id, activity())
        defer { _ = note(id, nil) }
        return try body()
    }

    private func serve(fd: Int32, peer: PeerCredentials, connection: Int) {
        logger.info("connection \(connection) from pid \(peer.pid) uid \(peer.uid)")
        let consumer = busy(connection, "creating its consumer") { makeConsumer(peer, connection) }
        var control: ControlChannel?
        if let producer = consumer as? ControlRecordProducer {
            control = ControlChannel(socket: fd)
            producer.attach(control: control!)
        }
        var capture: CaptureWriter?
        if let captureDirectory {
            do {
                capture = try busy(connection, "creating a capture file in \(captureDirectory)") {
                    try CaptureWriter.create(in: captureDirectory, connection: connection)
                }
            } catch {
                logger.error("connection \(connection): cannot capture the stream: \(error); check that --capture \(captureDirectory) exists and is writable by this user")
            }
        }
        // A reader thread reads, captures and previews the stream as it arrives, up to
        // `readAheadBytes` ahead of this thread's consumer: a consumer that is behind
        // (loading the symbols of a large file takes seconds) then holds back neither the
        // sampler nor the unwind tables the producer answers with.
        let input = ReadAheadQueue(limit: Self.readAheadBytes)
        let reader = ConnectionReader(server: self, fd: fd, connection: connection, consumer: UncheckedConsumer(consumer),
                                      control: control, capture: capture, input: input)
        var bytes = 0
        do {
            do {
                try startThread("tandem-read-\(connection)") { reader.run() }
            } catch {
                counters.add { $0.threadFailures += 1 }
                input.finish(error: ReaderNotStarted(cause: error))
            }
            do {
                defer {
                    // Unblocks a reader still reading or waiting for room, and waits for it:
                    // the descriptor and the consumer's preview state are its until then.
                    input.close()
                    _ = shutdown(fd, Int32(SHUT_RD))
                    input.waitUntilReaderEnded()
                }
                while let chunk = try input.next(limit: Self.consumeSize) {
                    bytes += chunk.count
                    try busy(connection, "consuming \(chunk.count) bytes at stream offset \(bytes - chunk.count)") {
                        try consumer.consume(chunk[...])
                    }
                    if note(connection, nil) { throw AbandonedConnection(bytes: bytes) }
                }
            }
            if note(connection, nil) { throw AbandonedConnection(bytes: bytes) }
            busy(connection, "finishing its stream") { consumer.finish(error: nil) }
            logger.info("connection \(connection) closed by the sampler after \(bytes) bytes")
        } catch {
            let abandoned = note(connection, nil)
            // A reader that could not start is counted apart ("without a thread").
            if !abandoned && !(error is ReaderNotStarted) { counters.add { $0.failed += 1 } }
            let reported: any Error = abandoned ? AbandonedConnection(bytes: bytes) : error
            busy(connection, "finishing its stream") { consumer.finish(error: reported) }
            logger.error("connection \(connection) closed: \(reported)")
        }
    }
}

extension StreamServer {
    /// Bytes one read takes at most.
    static let readSize = 256 << 10
    /// Bytes one `consume` call gets at most.
    static let consumeSize = 32 << 10
    /// Most bytes read ahead of a connection's consumer: about 80 s of a 2-CPU host's
    /// stream at 99 Hz, 3 s of a 64-CPU one's.
    static let readAheadBytes = 4 << 20

    /// Marks that connection `id` has sent bytes (it is not silent).
    fileprivate func noteReceived(_ id: Int) {
        connections.withLock { $0[id]?.received = true }
    }
}

/// The connection's reader thread could not be started.
private struct ReaderNotStarted: Error, CustomStringConvertible {
    var cause: SystemCallError
    var description: String { "no thread to read the connection: \(cause)" }
}

/// The consumer of one connection, shared by its reader thread (which only hands it
/// descriptors and previews bytes) and its serving thread (which consumes and finishes
/// it, after the reader ended): the two use disjoint state of it.
private struct UncheckedConsumer: @unchecked Sendable {
    let consumer: any StreamConsumer
    init(_ consumer: any StreamConsumer) { self.consumer = consumer }
}

/// A connection's reader thread: reads the socket, hands passed descriptors to the
/// consumer, writes the capture, previews each read, and queues the bytes.
private final class ConnectionReader: @unchecked Sendable {
    private let server: StreamServer
    private let fd: Int32
    private let connection: Int
    private let consumer: UncheckedConsumer
    private let control: ControlChannel?
    private var capture: CaptureWriter?
    private let input: ReadAheadQueue

    init(server: StreamServer, fd: Int32, connection: Int, consumer: UncheckedConsumer, control: ControlChannel?,
         capture: CaptureWriter?, input: ReadAheadQueue) {
        self.server = server
        self.fd = fd
        self.connection = connection
        self.consumer = consumer
        self.control = control
        self.capture = capture
        self.input = input
    }

    func run() {
        var buffer = [UInt8](repeating: 0, count: StreamServer.readSize)
        var bytes = 0
        do {
            while true {
                if let control { try waitForInput(fd, flushing: control) }
                let received = try receiveSome(fd, into: &buffer)
                let count = received.count
                if !received.descriptors.isEmpty || received.controlTruncated {
                    hand(received, at: bytes..<bytes + count, to: consumer.consumer)
                }
                if count == 0 { break }
                if bytes == 0 { server.noteReceived(connection) }
                bytes += count
                let chunk = buffer[..<count]
                if let writer = capture {
                    do {
                        try writer.write(chunk)
                    } catch {
                        server.logger.error("connection \(connection): capture stopped: \(error)")
                        capture = nil
                    }
                }
                (consumer.consumer as? ControlRecordProducer)?.preview(chunk)
                guard input.append(chunk) else { break }
            }
            input.finish(error: nil)
        } catch {
            input.finish(error: error)
        }
    }
}

/// The bytes a connection's reader read and its consumer has not taken yet, at most
/// `limit` of them (the reader waits for room), then how the input ended.
final class ReadAheadQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private let limit: Int
    private var chunks: [[UInt8]] = []
    private var firstOffset = 0
    private var count = 0
    private var ended = false
    private var endError: (any Error)?
    private var closed = false
    private var readerEnded = false

    init(limit: Int) { self.limit = limit }

    /// The reader's: queues `chunk`, waiting while the queue is full; false once the consumer closed it.
    func append(_ chunk: ArraySlice<UInt8>) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while count >= limit && !closed { condition.wait() }
        guard !closed else { return false }
        chunks.append(Array(chunk))
        count += chunk.count
        condition.broadcast()
        return true
    }

    /// The reader's last call: the input ended (`error` nil at the end of the stream).
    func finish(error: (any Error)?) {
        condition.lock()
        ended = true
        readerEnded = true
        endError = error
        condition.broadcast()
        condition.unlock()
    }

    /// The consumer's: the next at most `limit` bytes, waiting for them; nil at the end
    /// of the input; throws how the reader failed.
    func next(limit: Int) throws -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        while chunks.isEmpty && !ended { condition.wait() }
        guard !chunks.isEmpty else {
            if let endError { throw endError }
            return nil
        }
        let first = chunks[0]
        let end = min(first.count, firstOffset + limit)
        let taken = Array(first[firstOffset..<end])
        if end == first.count {
            chunks.removeFirst()
            firstOffset = 0
        } else {
            firstOffset = end
        }
        count -= taken.count
        condition.broadcast()
        return taken
    }

    /// The consumer is done: the reader takes no more.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    func waitUntilReaderEnded() {
        condition.lock()
        while !readerEnded { condition.wait() }
        condition.unlock()
    }
}

/// Whether `fd` has bytes to read or has hung up (`poll` with no wait).
private func hasInput(_ fd: Int32) -> Bool {
    var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&descriptor, 1, 0) > 0
}

/// What a connection's thread sees once the watchdog abandoned it and its call returned.
struct AbandonedConnection: Error, CustomStringConvertible {
    var bytes: Int
    var description: String {
        "abandoned by the watchdog after \(bytes) bytes (a call into its consumer took too long); the sampler reconnects with a fresh stream"
    }
}

/// What the server knows of one open connection.
private struct OpenConnection {
    var fd: Int32
    /// When the connection's thread entered the call it is in, if it is in one
    /// (waiting for input is not busy).
    var busySince: ContinuousClock.Instant?
    var activity = ""
    /// The watchdog gave up on it.
    var abandoned = false
    var acceptedAt = ContinuousClock.now
    /// It has sent at least one byte.
    var received = false
    /// The watchdog closed it for sending nothing.
    var silenced = false
}

/// Gives the descriptors of one read to a consumer that takes them; otherwise they close
/// with the chunk.
private func hand(_ received: ReceivedChunk, at offsets: Range<Int>, to consumer: any StreamConsumer) {
    guard let receiver = consumer as? DescriptorReceiver else { return }
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
    public struct Snapshot: Hashable, Sendable, CustomStringConvertible {
        public var accepted = 0
        /// Refused: uid not allowed, or no peer credentials.
        public var refused = 0
        /// Closed unserved: `max_connections` were open already.
        public var overLimit = 0
        /// Closed unserved: no thread could be started for them.
        public var threadFailures = 0
        /// Ended by a malformed stream or a read error.
        public var failed = 0
        /// Abandoned by the watchdog: stuck in one call for longer than the bound; their data is lost.
        public var stuck = 0
        /// Still open when the shutdown timeout ended the wait for them; their data is lost.
        public var unfinished = 0
        /// Closed by the watchdog: nothing sent within `silentAfter` of being accepted.
        public var silent = 0

        public var description: String {
            "connections accepted \(accepted), refused \(refused), over max_connections \(overLimit), "
                + "without a thread \(threadFailures), failed \(failed), stuck and abandoned \(stuck), "
                + "closed silent \(silent), unfinished at shutdown \(unfinished)"
        }
    }

    private let state = Mutex(Snapshot())

    func add(_ change: (inout Snapshot) -> Void) {
        state.withLock { change(&$0) }
    }

    public var snapshot: Snapshot { state.withLock { $0 } }
}
