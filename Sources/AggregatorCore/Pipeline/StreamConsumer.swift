/// Something that takes the bytes of one stream as they arrive: the decoding
/// and symbolizing pipeline, or a test double.
public protocol StreamConsumer: AnyObject {
    /// Decodes and processes `bytes`; throws when the stream is malformed, after
    /// which the connection is closed.
    func consume(_ bytes: ArraySlice<UInt8>) throws
    /// The input ended (`error` is nil when it ended at a record boundary).
    func finish(error: (any Error)?)
}
