import ELF
import Symbolization
import UnwindTableCompiler
import UnwindTableFormat
import V8Symbolization
import WireFormat

/// Finds the V8 of a Node process among its mapped files as soon as its mappings arrive
/// (docs/v8.md): files named as Node's executable or library (`node`, `nodejs`,
/// `libnode.so.N`, the names `JITRuntime` knows) are examined by path, once per file.
final class V8RuntimeFiles {
    private struct Found {
        var runtime: V8Runtime
        var segments: [UnwindTable.LoadSegment]
    }

    /// Results by file; nil: no V8 tandem walks (or unreadable here).
    private var files: [FileIdentity: Found?] = [:]
    /// Why a file holds no V8 tandem walks, once per file, for a log line.
    private(set) var refusals: [FileIdentity: String] = [:]
    /// Files examined per connection, at most (each costs a read of its headers and symbols).
    let maximumFiles = 1024
    let maximumFileSize: Int

    init(maximumFileSize: Int) {
        self.maximumFileSize = maximumFileSize
    }

    /// Whether `path` may be Node's: the runtime its file name tells is V8's.
    static func mayBeNode(_ path: String) -> Bool {
        JITRuntime.of(fileName: path.split(separator: "/").last ?? Substring(path)) == .v8js
    }

    /// The V8 mapped at `mapping` and its metadata symbol's address in the process; the
    /// reason for a file that is Node's but not walked comes back once in `refusal`.
    func runtime(at mapping: Mapping, pid: Int32) -> (runtime: V8Runtime, address: UInt64)? {
        guard Self.mayBeNode(mapping.path), mapping.inode != 0,
              MappedFilePath.refusal(path: mapping.path, inode: mapping.inode) == nil else { return nil }
        let identity = FileIdentity(device: mapping.device, inode: mapping.inode)
        let found: Found?
        if let known = files[identity] {
            found = known
        } else {
            guard files.count < maximumFiles else { return nil }
            found = examine(paths: ["/proc/\(pid)/root\(mapping.path)", mapping.path], identity: identity)
            files[identity] = found
        }
        guard let found, let elfAddress = found.segments.elfAddress(ofMappingAt: mapping.fileOffset) else { return nil }
        return (found.runtime, found.runtime.metadataAddress &- (elfAddress &- mapping.start))
    }

    private func examine(paths: [String], identity: FileIdentity) -> Found? {
        for path in paths {
            // Headers, symbol tables and the version bytes only, with `pread`: node is 100 MB.
            guard case .success(let file) = UnwindTableCache.openFile(path, identity: identity, limit: maximumFileSize),
                  let elf = try? ELFFile(source: file) else { continue }
            switch (try? V8Runtime.detect(in: elf)) ?? .notV8 {
            case .runtime(let runtime):
                return Found(runtime: runtime, segments: UnwindTable.LoadSegment.segments(of: elf))
            case .unsupported(let reason):
                refusals[identity] = reason
                return nil
            case .notV8:
                return nil
            }
        }
        return nil
    }
}
