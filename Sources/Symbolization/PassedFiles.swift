import WireFormat

/// Mapped files the aggregator cannot open by path (another user's private directory,
/// another mount namespace) but may be given open: the sampler passes a read-only
/// descriptor of a file it mapped itself when asked (docs/security.md, "Files it passes
/// to the aggregator"). The connection that owns those descriptors implements this; the
/// symbolizer only asks, so that unwind tables and symbols come from the same passed file.
public protocol PassedFiles: AnyObject, Sendable {
    /// The file `pid` maps at `mapping` (its device and inode), if the sampler passed it;
    /// otherwise whether it may still come (asking for it if it was not asked for yet).
    func file(for mapping: Mapping, pid: Int32) -> PassedFile
}

public enum PassedFile: Sendable {
    /// Passed: the file of the mapping's device and inode, open for reading.
    case open(OpenFile)
    /// Asked for and not arrived yet: ask again later.
    case awaited
    /// None will come (no sampler to ask, as in a replay).
    case unavailable
}
