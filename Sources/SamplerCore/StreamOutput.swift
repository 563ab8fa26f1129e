import CTandemBPF
import Logging
import SystemCalls
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// Where the stream goes.
public enum OutputDestination: Hashable, Sendable, CustomStringConvertible {
    /// The aggregator's Unix stream socket; reconnected with backoff.
    case socket(path: String)
    /// A capture file: the bytes of one stream.
    case file(path: String)

    public var description: String {
        switch self {
        case .socket(let path): "socket \(path)"
        case .file(let path): "file \(path)"
        }
    }
}

/// One destination's connection state and its bounded buffer of encoded bytes.
///
/// Never blocks: sockets are non-blocking and written as far as they accept; what
/// does not fit waits in the buffer, and once the buffer holds `bufferLimit` bytes,
/// new samples are refused (the caller counts them as dropped).
struct StreamOutput {
    enum Phase: Equatable {
        /// No connection; the next attempt is due at this monotonic time.
        case disconnected(nextAttempt: UInt64)
        /// Connected; sending the start-of-stream state: kernel symbols from this index on.
        case sendingSnapshot(nextChunk: Int)
        /// Connected, snapshot sent: samples and process events flow.
        case live
    }

    let destination: OutputDestination
    /// Most bytes kept waiting for the destination.
    let bufferLimit: Int
    let minimumBackoff: UInt64
    let maximumBackoff: UInt64

    private(set) var phase: Phase = .disconnected(nextAttempt: 0)
    private(set) var encoder: StreamEncoder?
    private var queue = ByteQueue()
    /// The open capture file or connected socket; nil while disconnected.
    private var connection: FileDescriptorReference?
    /// The destination's descriptor number, lent; -1 while disconnected.
    private var fd: Int32 { connection?.rawValue ?? -1 }
    private var backoff: UInt64
    private(set) var bytesSent: UInt64 = 0
    /// Samples whose bytes were all written to the destination, over every stream.
    private(set) var samplesWritten: UInt64 = 0
    /// Samples appended and then discarded unwritten because their stream ended (a write
    /// error, a reader that stopped reading, a final drain that timed out). Samples already
    /// in the socket's buffer when the reader dies are not known here: at most one socket
    /// buffer's worth is lost that way, uncounted (there is no acknowledgement).
    private(set) var samplesDiscarded: UInt64 = 0
    private(set) var connections: UInt64 = 0
    /// errno of the last failed connect, so that a new kind of failure is logged
    /// loudly once and repeats stay at debug level.
    private var lastConnectErrno: Int32?
    /// Bytes of the current stream moved to the queue, and written: stream offsets.
    private var streamQueued: UInt64 = 0
    private var streamWritten: UInt64 = 0
    /// Where each appended, unwritten sample ends in the stream.
    private var sampleMarks = SampleMarks()
    /// Descriptors waiting to ride on the byte at their stream offset (a file descriptor
    /// record's first byte), in offset order; owned here until sent or dropped.
    private var pendingDescriptors: [(offset: UInt64, descriptor: FileDescriptorReference)] = []
    /// When a capture file was last written.
    private var lastFileWrite: UInt64 = 0
    /// Why the capture file could not be opened or written. A capture that lost bytes
    /// is not a capture: the sampler stops with this error (a socket reconnects instead).
    private(set) var failure: SamplerError?
    /// What `receiveControl` reads into, allocated at its first call.
    private var receiveChunk: [UInt8] = []

    /// A capture file has no reader waiting: it is written in pieces of this size, or
    /// after this long, whichever comes first. Every write(2) to ext4 updates the
    /// inode's times, which at low frequencies cost more than the samples themselves.
    static let fileWriteBytes = 256 << 10
    static let fileWriteInterval: UInt64 = 2_000_000_000

    init(destination: OutputDestination, bufferLimit: Int, minimumBackoff: UInt64 = 100_000_000,
         maximumBackoff: UInt64 = 5_000_000_000) {
        self.destination = destination
        self.bufferLimit = bufferLimit
        self.minimumBackoff = minimumBackoff
        self.maximumBackoff = maximumBackoff
        self.backoff = minimumBackoff
    }

    /// Bytes encoded and not yet written.
    var bufferedByteCount: Int { queue.count + (encoder?.bufferedByteCount ?? 0) }

    var isLive: Bool { phase == .live }

    /// Samples fit while the buffer is below three quarters of the bound; the last
    /// quarter is kept for process, mapping and statistics records, so that the
    /// state the aggregator needs is not crowded out by samples.
    var acceptsSamples: Bool { isLive && bufferedByteCount < bufferLimit - bufferLimit / 4 }

    /// What to do about a failed connect to the aggregator's socket.
    static func connectHint(_ error: Int32) -> String {
        switch error {
        case ENOENT, ECONNREFUSED: "is tandem-aggregator running and listening on this path?"
        case EACCES, EPERM:
            "the sampler keeps no CAP_DAC_OVERRIDE after start-up: give it access through the socket's group "
                + "(e.g. run it with the aggregator's group as a supplementary group) or the socket's mode"
        default: "retrying with backoff"
        }
    }

    /// Opens the destination when it is closed and an attempt is due. Returns whether a
    /// new stream started (the caller then feeds the snapshot through `continueSnapshot`).
    mutating func connectIfDue(now: UInt64, header: () -> StreamHeader, logger: Logger) -> Bool {
        guard case .disconnected(let due) = phase, now >= due else { return false }
        switch destination {
        case .file(let path):
            guard connections == 0 else { return false }  // a capture file is one stream
            do {
                connection = FileDescriptorReference(try CaptureFile.open(path))
            } catch {
                failure = error
                phase = .disconnected(nextAttempt: UInt64.max)
                return false
            }
        case .socket(let path):
            let connected = path.withCString { tandem_unix_connect($0) }
            guard connected >= 0 else {
                let error = SystemCallError.last("connect(\(path))")
                let metadata: Logger.Metadata = ["error": "\(error)", "retry_ms": "\(backoff / 1_000_000)"]
                if lastConnectErrno != error.errno {
                    lastConnectErrno = error.errno
                    logger.warning("aggregator not reachable; samples are dropped until it is: \(Self.connectHint(error.errno))",
                                   metadata: metadata)
                } else {
                    logger.debug("aggregator not reachable", metadata: metadata)
                }
                phase = .disconnected(nextAttempt: now &+ backoff)
                backoff = min(backoff * 2, maximumBackoff)
                return false
            }
            connection = FileDescriptorReference(FileDescriptor(owning: connected))
        }
        connections += 1
        lastConnectErrno = nil
        backoff = minimumBackoff
        queue.removeAll()
        streamQueued = 0
        streamWritten = 0
        encoder = StreamEncoder(header: header())
        phase = .sendingSnapshot(nextChunk: 0)
        logger.info("stream started", metadata: ["destination": "\(destination)"])
        return true
    }

    /// Appends the next chunk of kernel symbols while the buffer has room; when all are
    /// queued, appends `finalRecords()` (modules, processes, mappings) and goes live.
    mutating func continueSnapshot(symbols: EncodedKernelSymbols, finalRecords: () -> [Record]) {
        while case .sendingSnapshot(let next) = phase, bufferedByteCount < bufferLimit / 2 {
            if next < symbols.chunkCount {
                encoder?.appendEncoded(symbols[chunk: next])
                phase = .sendingSnapshot(nextChunk: next + 1)
            } else {
                for record in finalRecords() { encoder?.append(record) }
                phase = .live
            }
        }
    }

    /// Appends a record that describes state (process, mappings, exit, statistics). Only
    /// a live stream takes them: before that, the snapshot will carry the state.
    mutating func appendState(_ record: Record) {
        guard isLive else { return }
        encoder?.append(record)
    }

    /// Descriptors queued and not yet sent.
    var descriptorsInFlight: Int { pendingDescriptors.count }

    /// Whether the destination can carry descriptors (a connected socket, not a file).
    var carriesDescriptors: Bool {
        guard isLive, case .socket = destination else { return false }
        return true
    }

    /// Appends a file descriptor record; with `descriptor` (owned from here on), the
    /// descriptor rides as `SCM_RIGHTS` on the record's first byte. Where descriptors
    /// cannot go (a file, no stream) it is closed and the record says so. Returns
    /// whether the descriptor was queued.
    @discardableResult
    mutating func appendFileDescriptor(_ answer: FileDescriptorAnswer, descriptor: consuming FileDescriptor?) -> Bool {
        var answer = answer
        guard let descriptor else {
            appendState(.fileDescriptor(answer))
            return false
        }
        guard carriesDescriptors, encoder != nil else {
            _ = consume descriptor  // closed: nothing can carry it
            answer.status = .noDescriptorChannel
            appendState(.fileDescriptor(answer))
            return false
        }
        // The record's first byte must be at a known offset: everything encoded before
        // goes to the queue first.
        moveEncodedBytes()
        pendingDescriptors.append((streamQueued, FileDescriptorReference(descriptor)))
        encoder?.append(.fileDescriptor(answer))
        moveEncodedBytes()
        return true
    }

    /// Moves the encoder's bytes to the queue, in place (a local copy of the encoder
    /// would share its buffer and copy it on write), counting their stream offsets.
    private mutating func moveEncodedBytes() {
        guard let bytes = encoder?.takeBytes(), !bytes.isEmpty else { return }
        streamQueued += UInt64(bytes.count)
        queue.append(bytes)
    }

    mutating func appendSample(time: UInt64, pid: Int32, tid: Int32, cpu: UInt32,
                               kernelStack: UnsafeBufferPointer<UInt64>, userStack: UnsafeBufferPointer<UInt64>,
                               flags: SampleFlags,
                               interpreterStack: UnsafeBufferPointer<UInt64> = UnsafeBufferPointer(start: nil, count: 0),
                               interpreterStackKind: StackKind = .cpython, interpreterFlags: UInt32 = 0,
                               threadName: ThreadName = ThreadName(), offCPUNanoseconds: UInt64 = 0) {
        guard encoder != nil else { return }
        encoder!.appendSample(time: time, pid: pid, tid: tid, cpu: cpu,
                              kernelStack: kernelStack, userStack: userStack, flags: flags,
                              interpreterStack: interpreterStack, interpreterStackKind: interpreterStackKind,
                              interpreterFlags: interpreterFlags, threadName: threadName,
                              offCPUNanoseconds: offCPUNanoseconds)
        sampleMarks.append(end: streamQueued + UInt64(encoder!.bufferedByteCount))
    }

    /// Writes what the destination accepts without blocking. A write error or a stream
    /// that stays over its bound (the reader stopped reading) ends the connection; a
    /// capture file's write error is final (`failure`).
    mutating func flush(now: UInt64, logger: Logger, force: Bool = false) {
        guard fd >= 0, encoder != nil else { return }
        if case .file = destination, !force, bufferedByteCount < Self.fileWriteBytes,
           now &- lastFileWrite < Self.fileWriteInterval {
            return
        }
        lastFileWrite = now
        moveEncodedBytes()
        while !queue.isEmpty {
            var failure: SystemCallError?
            let fd = self.fd
            let isSocket = if case .socket = destination { true } else { false }
            // A descriptor goes with the send that starts at its byte; a plain send stops
            // short of that byte (else the descriptor would ride on a later one).
            let next = pendingDescriptors.first
            let carried = next.flatMap { $0.offset == streamWritten ? $0.descriptor.rawValue : nil }
            let following = carried == nil ? next?.offset : pendingDescriptors.dropFirst().first?.offset
            let limit = following.map { Int($0 - streamWritten) } ?? Int.max
            let written = queue.write { all in
                let bytes = UnsafeRawBufferPointer(rebasing: all.prefix(limit))
                let result = if var carried {
                    tandem_send_with_descriptors(fd, bytes.baseAddress, bytes.count, &carried, 1)
                } else if isSocket {
                    tandem_send_nonblocking(fd, bytes.baseAddress, bytes.count)
                } else {
                    write(fd, bytes.baseAddress, bytes.count)
                }
                if result < 0 {
                    if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                        failure = .last(carried != nil ? "sendmsg" : isSocket ? "send" : "write")
                    }
                    return 0
                }
                return result
            }
            if let failure {
                if case .file(let path) = destination {
                    self.failure = .captureFileWriteFailed(path: path, failure, bytesWritten: bytesSent)
                    disconnect(now: now)
                    phase = .disconnected(nextAttempt: UInt64.max)
                    return
                }
                logger.warning("stream ended", metadata: ["destination": "\(destination)", "error": "\(failure)"])
                disconnect(now: now)
                return
            }
            if written == 0 { break }
            if carried != nil {
                // In the socket now (the kernel holds its own reference): the sender's
                // copy closes as it leaves the queue.
                pendingDescriptors.removeFirst()
            }
            streamWritten += UInt64(written)
            bytesSent += UInt64(written)
            samplesWritten += UInt64(sampleMarks.removeWritten(upTo: streamWritten))
        }
        if isLive, bufferedByteCount > bufferLimit {
            logger.warning("the aggregator does not read its stream; reconnecting",
                           metadata: ["buffered_bytes": "\(bufferedByteCount)"])
            disconnect(now: now)
        }
    }

    /// The connected socket, to wait on for control records; nil for files and while disconnected.
    var controlDescriptor: Int32? {
        guard fd >= 0, case .socket = destination else { return nil }
        return fd
    }

    /// Reads what the aggregator sent back (the control stream), without blocking: at
    /// most `limit` bytes; empty when nothing is waiting or there is no socket.
    mutating func receiveControl(limit: Int) -> [UInt8] {
        guard fd >= 0, case .socket = destination else { return [] }
        // Kept: most calls find nothing, and a fresh 64 KiB to allocate and zero twice a
        // tick was a cost of its own at 19 Hz.
        if receiveChunk.isEmpty { receiveChunk = [UInt8](repeating: 0, count: 64 << 10) }
        let fd = self.fd
        var received: [UInt8] = []
        while received.count < limit {
            let count = receiveChunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count <= 0 { break }  // nothing waiting, or closed: the write side notices
            received.append(contentsOf: receiveChunk[..<count])
        }
        return received
    }

    /// Appends `endOfStream`, writes what can be written, and closes.
    mutating func finish(reason: EndOfStream.Reason, now: UInt64, logger: Logger, drainMilliseconds: Int32 = 2000) {
        guard fd >= 0 else { return }
        if isLive { encoder?.append(.endOfStream(EndOfStream(time: now, reason: reason))) }
        flush(now: now, logger: logger, force: true)
        // A reader that lags gets a bounded wait for the rest, so that the stream
        // ends on a record boundary instead of inside one.
        var waited: Int32 = 0
        while fd >= 0, !queue.isEmpty, waited < drainMilliseconds {
            var writable = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&writable, 1, 50)
            waited += 50
            flush(now: now, logger: logger, force: true)
        }
        if fd >= 0, !queue.isEmpty {
            logger.warning("stream closed with bytes unsent: the reader did not take them in time",
                           metadata: ["destination": "\(destination)", "unsent_bytes": "\(queue.count)"])
        }
        if let connection {
            self.connection = nil
            do {
                try connection.close()
            } catch {
                // A file system may report a failed write-back only here (NFS, quotas).
                if case .file(let path) = destination, failure == nil {
                    failure = .captureFileWriteFailed(path: path, error, bytesWritten: bytesSent)
                }
            }
        }
        pendingDescriptors.removeAll()
        encoder = nil
        queue.removeAll()
        samplesDiscarded += UInt64(sampleMarks.removeAll())
        phase = .disconnected(nextAttempt: UInt64.max)
    }

    private mutating func disconnect(now: UInt64) {
        connection = nil
        encoder = nil
        queue.removeAll()
        samplesDiscarded += UInt64(sampleMarks.removeAll())
        pendingDescriptors.removeAll()
        phase = .disconnected(nextAttempt: now &+ backoff)
        backoff = min(backoff * 2, maximumBackoff)
    }
}
