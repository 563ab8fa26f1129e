/// Encoded bytes waiting to be written, consumed from the front.
struct ByteQueue {
    private var storage: [UInt8] = []
    private var start = 0

    var count: Int { storage.count - start }
    var isEmpty: Bool { count == 0 }

    mutating func append(_ bytes: [UInt8]) {
        if isEmpty {
            storage = bytes
            start = 0
        } else {
            storage.append(contentsOf: bytes)
        }
    }

    /// Calls `body` with the unwritten bytes; it returns how many it wrote.
    mutating func write(_ body: (UnsafeRawBufferPointer) -> Int) -> Int {
        let written = storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        if written > 0 { consume(written) }
        return written
    }

    mutating func consume(_ count: Int) {
        start += count
        if start == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 1 << 20)
            start = 0
        } else if start > storage.count / 2, start > 1 << 16 {
            storage.removeSubrange(0..<start)
            start = 0
        }
    }

    mutating func removeAll() {
        storage = []
        start = 0
    }
}
