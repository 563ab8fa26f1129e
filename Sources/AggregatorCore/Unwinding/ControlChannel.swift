import SystemCalls
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The aggregator → sampler direction of one connection: encodes control records
/// and writes them with non-blocking `send`, so the decode loop never waits on
/// the sampler. What the socket does not take waits in a bounded queue; a record
/// that would pass the bound is dropped and counted.
public final class ControlChannel {
    /// Where the bytes go: the connection's socket, or a test's collector.
    public typealias Writer = (UnsafeRawBufferPointer) -> Result<Int, SystemCallError>

    public struct Counters: Hashable, Sendable {
        public var recordsQueued = 0
        public var recordsDropped = 0
        public var bytesSent = 0
    }

    public let queueLimit: Int
    public private(set) var counters = Counters()
    /// Set once a write failed: the direction is dead, everything after is dropped.
    public private(set) var failure: SystemCallError?
    private var encoder = ControlEncoder()
    private var pending: [UInt8] = []
    private var pendingStart = 0
    /// Indices in `pending` where a queued record ends (ascending, ≥ `pendingStart`):
    /// where an urgent record may be put ahead of the rest.
    private var recordEnds: [Int] = []
    private let writer: Writer

    public init(queueLimit: Int = 64 << 20, writer: @escaping Writer) {
        self.queueLimit = queueLimit
        self.writer = writer
    }

    /// A channel over socket `fd` (`send(MSG_DONTWAIT | MSG_NOSIGNAL)`).
    public convenience init(socket fd: Int32, queueLimit: Int = 64 << 20) {
        self.init(queueLimit: queueLimit) { bytes in
            while true {
                let count = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
                if count >= 0 { return .success(count) }
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return .success(0) }
                return .failure(SystemCallError("send", subject: "fd \(fd)"))
            }
        }
    }

    /// Bytes queued and not yet written.
    public var queuedByteCount: Int { pending.count - pendingStart }

    /// Queues `record` and writes what the socket takes. Returns false (and counts a
    /// drop) when the queue has no room or the channel failed.
    /// An `urgent` record (a small request) goes ahead of the queued records not yet
    /// begun, instead of waiting behind megabytes of tables.
    @discardableResult
    public func send(_ record: ControlRecord, urgent: Bool = false) -> Bool {
        guard failure == nil else {
            counters.recordsDropped += 1
            return false
        }
        var candidate = encoder
        let bytes = candidate.encode(record)
        guard queuedByteCount + bytes.count <= queueLimit else {
            counters.recordsDropped += 1
            return false
        }
        encoder = candidate
        // After the record being written (whose first bytes may be out already), and never
        // before the first record, which carries the control header.
        if urgent, let index = recordEnds.firstIndex(where: { $0 >= pendingStart }), recordEnds[index] < pending.count {
            let position = recordEnds[index]
            pending.insert(contentsOf: bytes, at: position)
            for later in recordEnds.indices where later > index { recordEnds[later] += bytes.count }
            recordEnds.insert(position + bytes.count, at: index + 1)
        } else {
            pending.append(contentsOf: bytes)
            recordEnds.append(pending.count)
        }
        counters.recordsQueued += 1
        flush()
        return true
    }

    /// Writes queued bytes until the socket stops taking them.
    public func flush() {
        while failure == nil, queuedByteCount > 0 {
            let result = pending.withUnsafeBytes { writer(UnsafeRawBufferPointer(rebasing: $0[pendingStart...])) }
            switch result {
            case .failure(let error):
                failure = error
            case .success(0):
                return
            case .success(let count):
                pendingStart += count
                counters.bytesSent += count
            }
        }
        if let stale = recordEnds.firstIndex(where: { $0 >= pendingStart }), stale > 0 {
            recordEnds.removeFirst(stale)
        }
        if pendingStart == pending.count {
            pending.removeAll(keepingCapacity: pending.capacity <= 1 << 20)
            pendingStart = 0
            recordEnds.removeAll()
        } else if pendingStart > 1 << 20 {
            pending.removeSubrange(..<pendingStart)
            for index in recordEnds.indices { recordEnds[index] -= pendingStart }
            pendingStart = 0
        }
    }
}

/// A stream consumer that can answer on its connection (the pipeline).
public protocol ControlRecordProducer: AnyObject {
    /// Called once, before the first bytes, with the connection's outgoing direction.
    func attach(control: ControlChannel)
    /// The stream's next bytes, as soon as they are read and before `consume` gets them:
    /// what must answer the sampler without waiting for the consumer's backlog.
    func preview(_ bytes: ArraySlice<UInt8>)
}
