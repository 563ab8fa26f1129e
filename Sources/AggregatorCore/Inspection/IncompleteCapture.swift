import WireFormat

/// A capture file that does not hold a whole stream: empty, or cut inside the header or a
/// record. Says so with the byte where it was cut and what to do; what came before the cut
/// was still decoded and used.
public struct IncompleteCapture: Error, Sendable, CustomStringConvertible {
    public var path: String
    /// The bytes the file held.
    public var bytes: Int
    /// Where the incomplete header or record starts.
    public var offset: Int
    /// The record cut short (`header`, `sample`, ...).
    public var recordName: String

    /// The incomplete capture `error` describes, or nil when `error` is not a stream that
    /// ended too early (a malformed record is reported as it is).
    public init?(path: String, bytes: Int, error: any Error) {
        guard let error = error as? WireFormatError, error.kind == .truncated else { return nil }
        self.path = path
        self.bytes = bytes
        self.offset = error.offset
        self.recordName = error.recordName
    }

    public var description: String {
        let fix = "record the capture again (tandem-sampler --output FILE, stopped with SIGTERM so that it ends the stream)"
        if bytes == 0 {
            return "\(path) is empty (0 bytes): it holds no stream, nothing was read; \(fix), or name another file"
        }
        if offset == 0 {
            return "\(path) is truncated at byte \(bytes), inside the stream header: not a whole capture, nothing was read; \(fix)"
        }
        return "\(path) is truncated at byte \(offset) of \(bytes): the \(recordName) that starts there is cut short "
            + "(the sampler was killed or the disk filled); everything before byte \(offset) was used; "
            + "\(fix) to get the rest"
    }
}
