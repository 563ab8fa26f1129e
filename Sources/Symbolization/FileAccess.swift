import CTandemZlib
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// A file opened read-only from a path the aggregator did not choose (a mapped file, a
/// perf map, a debug file), with its `fstat` identity. Closes on deinit.
///
/// `open(_:)` is the one way the aggregator opens such a path: any local user can put a
/// FIFO or a device where a process maps a file or a JIT writes its map, and a blocking
/// `open` or `read` of it would stall a connection (or a replay) for good. `adopt(_:name:)`
/// takes a file the sampler opened for it instead (a descriptor it passed).
///
/// Sendable: immutable, and read only with `pread` (no shared file offset), so the unwind
/// tables' workers and a symbolizer may read one file at once.
public final class OpenFile: Sendable {
    let descriptor: FileDescriptor
    /// The descriptor number, lent: valid while this file lives.
    public var fileDescriptor: Int32 { descriptor.rawValue }
    /// The path it was opened by (possibly under `/proc/PID/root`).
    public let path: String
    public let device: UInt64
    public let inode: UInt64
    public let size: Int64
    public let modificationTime: Int
    /// What `fstat` said of it, to tell it again without opening it (`FileStamp.of(path:)`).
    public let stamp: FileStamp

    private init(descriptor: consuming FileDescriptor, path: String, status: stat) {
        self.descriptor = descriptor
        self.path = path
        self.device = UInt64(status.st_dev)
        self.inode = UInt64(status.st_ino)
        self.size = Int64(status.st_size)
        self.modificationTime = Int(status.st_mtim.tv_sec)
        self.stamp = FileStamp(status)
    }

    /// Opens `path` for reading if it is a regular file, without opening anything else.
    ///
    /// First `open(O_PATH)`, which opens no file (no device driver's `open`, no wait for a
    /// FIFO's writer, no terminal made the controlling one), then `fstat` on that
    /// descriptor; only a regular file is then opened for reading, through
    /// `/proc/self/fd/N` (`O_RDONLY | O_NONBLOCK | O_NOCTTY`), which is the very inode just
    /// checked: a file swapped in at `path` after the check is never reached.
    public static func open(_ path: String) -> Result<OpenFile, FileOpenError> {
        do throws(SystemCallError) {
            let located = try FileDescriptor.openPath(path)
            let status = try located.status()
            let type = FileType(mode: status.st_mode)
            guard type == .regular else { return .failure(.notRegularFile(path: path, type: type)) }
            let opened = try located.reopen(O_RDONLY | O_NONBLOCK | O_NOCTTY)
            return .success(OpenFile(descriptor: opened, path: path, status: status))
        } catch {
            return .failure(.systemCall(SystemCallError(error.call, subject: path, errno: error.errno)))
        }
    }

    /// Takes over `descriptor`, a file opened by another process for this one (the sampler
    /// passes a read-only descriptor of a file no path opens here), if `fstat` shows a
    /// regular file; `name` stands for its path in messages.
    public static func adopt(_ descriptor: consuming FileDescriptor, name: String) -> Result<OpenFile, FileOpenError> {
        let status: stat
        do {
            status = try descriptor.status()
        } catch {
            return .failure(.systemCall(SystemCallError(error.call, subject: name, errno: error.errno)))
        }
        let type = FileType(mode: status.st_mode)
        guard type == .regular else { return .failure(.notRegularFile(path: name, type: type)) }
        return .success(OpenFile(descriptor: descriptor, path: name, status: status))
    }

    /// The whole file, read with `pread`; nil on a read error or beyond `limit` bytes.
    public func readAll(limit: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let offset = Int64(bytes.count)
            guard let count = chunk.withUnsafeMutableBytes({ try? descriptor.read(fromAbsoluteOffset: offset, into: $0) })
            else { return nil }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit { return nil }
        }
    }

    /// `count` bytes from `offset`, read with `pread` (as the ELF reader reads, see
    /// `OpenFileSource.swift`); nil on a read error or if the file ends first.
    public func read(offset: UInt64, count: Int) -> [UInt8]? {
        guard count >= 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        let complete = bytes.withUnsafeMutableBytes { (try? read(into: $0, at: offset)) != nil }
        return complete ? bytes : nil
    }

    /// The CRC-32 of the whole file (zlib's `crc32`), as `.gnu_debuglink` records it.
    func crc32() -> UInt32? {
        var crc: UInt32 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        while true {
            let position = offset
            guard let count = chunk.withUnsafeMutableBytes({ try? descriptor.read(fromAbsoluteOffset: position, into: $0) })
            else { return nil }
            if count == 0 { return crc }
            crc = chunk.withUnsafeBufferPointer { UInt32(CTandemZlib.crc32(uLong(crc), $0.baseAddress, uInt(count))) }
            offset += Int64(count)
        }
    }
}

/// Why `OpenFile.open` did not open a path.
public enum FileOpenError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `open` or `fstat` failed (no such file, permission, ...).
    case systemCall(SystemCallError)
    /// It opened, but is a FIFO, a device, a socket or a directory: never read, since a
    /// read could block or have side effects.
    case notRegularFile(path: String, type: FileType)

    public var description: String {
        switch self {
        case .systemCall(let error):
            return "\(error)"
        case .notRegularFile(let path, let type):
            return "\(path) is \(type), not a regular file: not opened (a FIFO or device could block the aggregator, or act on being opened); "
                + "remove it or put the real file there"
        }
    }
}

/// Reads a small text file (procfs, perf maps) completely; nil if it cannot be read.
func readTextFile(_ path: String, limit: Int = 64 << 20) -> String? {
    guard case .success(let file) = OpenFile.open(path), let bytes = file.readAll(limit: limit) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

/// A file's identity and the `stat` fields its content cannot change without changing:
/// device, inode, size, and the modification and status-change times to the nanosecond.
/// Two equal stamps are the same file, unchanged, for a cache of what was read from it
/// (an inode reused by a new file, or a file rewritten in place, has other times).
public struct FileStamp: Hashable, Sendable {
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let modified: Int
    let modifiedNanoseconds: Int
    let changed: Int
    let changedNanoseconds: Int

    init(_ status: stat) {
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
        size = Int64(status.st_size)
        modified = Int(status.st_mtim.tv_sec)
        modifiedNanoseconds = Int(status.st_mtim.tv_nsec)
        changed = Int(status.st_ctim.tv_sec)
        changedNanoseconds = Int(status.st_ctim.tv_nsec)
    }

    /// The stamp of the file at `path`, without opening it (`stat(2)`: no device driver's
    /// `open`, no wait for a FIFO's writer); nil if it cannot be had. Each new process's
    /// every mapped file is stamped, so this is one system call, not three.
    public static func of(path: String) -> FileStamp? {
        guard let status = try? PathStatus.of(path) else { return nil }
        return FileStamp(status)
    }
}
