import Synchronization

/// An owned `FileDescriptor` held by reference, for the places a noncopyable value
/// cannot go: arrays and tuples (per-CPU events, descriptors queued with stream
/// offsets), copyable structs, and closures that another thread runs (a connection's
/// socket). The descriptor is closed once, by `close()` or when the last reference goes.
public final class FileDescriptorReference: Sendable {
    /// nil once closed or taken; the lock makes `close()` and `take()` safe from any thread.
    private let descriptor: Mutex<FileDescriptor?>

    public init(_ descriptor: consuming FileDescriptor) {
        self.descriptor = Mutex(Optional.some(descriptor))
    }

    /// The descriptor number, lent: valid until `close()` or `take()`; -1 after.
    public var rawValue: Int32 {
        descriptor.withLock { descriptor in
            switch descriptor {
            case .some(let descriptor): descriptor.rawValue
            case .none: -1
            }
        }
    }

    /// Whether the descriptor is still held.
    public var isOpen: Bool { rawValue >= 0 }

    /// `close(2)` now, for a caller that wants its error; nothing once closed or taken.
    public func close() throws(SystemCallError) {
        try take()?.close()
    }

    /// The descriptor itself, now the caller's; nil once closed or taken.
    public func take() -> FileDescriptor? {
        descriptor.withLock { $0.take() }
    }
}
