import SystemCalls
/// Something that takes the bytes of one stream as they arrive: the decoding
/// and symbolizing pipeline, or a test double.
public protocol StreamConsumer: AnyObject {
    /// Decodes and processes `bytes`; throws when the stream is malformed, after
    /// which the connection is closed.
    func consume(_ bytes: ArraySlice<UInt8>) throws
    /// The input ended (`error` is nil when it ended at a record boundary).
    func finish(error: (any Error)?)
}

/// A stream consumer that takes the descriptors the sampler passes on its connection
/// (`SCM_RIGHTS`, docs/wire-format.md 5.12). Consumers that are not receivers get none:
/// the server closes what arrives.
public protocol DescriptorReceiver: AnyObject {
    /// `descriptors` arrived with the stream bytes at `offsets` (bytes from the start of
    /// the stream); called before those bytes are consumed. The receiver owns them.
    func receive(descriptors: [FileDescriptorReference], with offsets: Range<Int>)
    /// A read lost descriptors: the kernel had more than the ancillary buffer held (`MSG_CTRUNC`).
    func noteTruncatedDescriptors()
}
