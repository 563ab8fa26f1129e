import Symbolization
import Synchronization
import WireFormat

/// The symbolizer's way to the files the sampler passes on one connection. The files are
/// the unwind table cache's (`UnwindTableCache.passedFile`), where every passed descriptor
/// is kept; a file not held is asked for through the connection's unwind publisher, the one
/// request path, on the thread that runs it (`takeWanted()`, from `StreamPipeline.preview`).
public final class ConnectionPassedFiles: PassedFiles {
    private let cache: UnwindTableCache
    /// Files the symbolizer asked for since the last `takeWanted()`, at most `maximumWanted`
    /// (it asks again at its next sample).
    private let wanted = Mutex<[FileIdentity: (mapping: Mapping, pid: Int32)]>([:])
    static let maximumWanted = 64

    public init(cache: UnwindTableCache) {
        self.cache = cache
    }

    public func file(for mapping: Mapping, pid: Int32) -> PassedFile {
        let identity = FileIdentity(device: mapping.device, inode: mapping.inode)
        if let file = cache.passedFile(identity) { return .open(file) }
        // A deleted file (or a memfd) has no path the sampler could open either.
        guard !mapping.path.hasSuffix(" (deleted)") else { return .unavailable }
        wanted.withLock { wanted in
            if wanted.count < Self.maximumWanted { wanted[identity] = (mapping, pid) }
        }
        return .awaited
    }

    /// The files asked for since the last call, each once.
    public func takeWanted() -> [(mapping: Mapping, pid: Int32)] {
        wanted.withLock { wanted in
            defer { wanted.removeAll() }
            return wanted.values.sorted { ($0.pid, $0.mapping.start) < ($1.pid, $1.mapping.start) }
        }
    }
}
