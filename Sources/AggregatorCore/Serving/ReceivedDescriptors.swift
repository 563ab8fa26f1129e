import SystemCalls

/// The descriptors a connection received (`SCM_RIGHTS`), in arrival order, each with
/// the stream bytes it arrived with. The sampler sends a descriptor with the first
/// byte of its file descriptor record, and the kernel delivers it in the read that
/// returns that byte: the record starting at offset `r` takes the descriptor whose
/// bytes contain `r`. Descriptors of earlier bytes that no record took are closed.
/// Owns every descriptor it holds.
public struct ReceivedDescriptors: ~Copyable {
    private var queue: [(descriptor: FileDescriptorReference, offsets: Range<Int>)] = []
    /// Descriptors closed because no record took them.
    public private(set) var unmatched = 0

    public init() {}

    public var count: Int { queue.count }

    /// Keeps `descriptors`, which arrived with the stream bytes at `offsets`.
    public mutating func receive(_ descriptors: [FileDescriptorReference], with offsets: Range<Int>) {
        for descriptor in descriptors { queue.append((descriptor, offsets)) }
    }

    /// The descriptor that arrived with stream offset `offset` (a record's first byte),
    /// now the caller's; nil when none did. Older ones are closed and counted.
    public mutating func take(forRecordAt offset: Int) -> FileDescriptor? {
        while let first = queue.first, first.offsets.upperBound <= offset {
            queue.removeFirst()  // closes it
            unmatched += 1
        }
        guard let first = queue.first, first.offsets.contains(offset) else { return nil }
        queue.removeFirst()
        return first.descriptor.take()
    }

    /// Closes everything held (the connection ended); they count as unmatched.
    public mutating func closeAll() {
        unmatched += queue.count
        queue.removeAll()
    }
}
