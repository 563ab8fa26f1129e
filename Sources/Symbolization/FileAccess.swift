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
/// `open` or `read` of it would stall a connection (or a replay) for good.
public final class OpenFile {
    public let fileDescriptor: Int32
    /// The path it was opened by (possibly under `/proc/PID/root`).
    public let path: String
    public let device: UInt64
    public let inode: UInt64
    public let size: Int64
    public let modificationTime: Int

    private init(fileDescriptor: Int32, path: String, status: stat) {
        self.fileDescriptor = fileDescriptor
        self.path = path
        self.device = UInt64(status.st_dev)
        self.inode = UInt64(status.st_ino)
        self.size = Int64(status.st_size)
        self.modificationTime = Int(status.st_mtim.tv_sec)
    }

    deinit { Glibc.close(fileDescriptor) }

    /// Opens `path` for reading if it is a regular file, without opening anything else.
    ///
    /// First `open(O_PATH)`, which opens no file (no device driver's `open`, no wait for a
    /// FIFO's writer, no terminal made the controlling one), then `fstat` on that
    /// descriptor; only a regular file is then opened for reading, through
    /// `/proc/self/fd/N` (`O_RDONLY | O_NONBLOCK | O_NOCTTY`), which is the very inode just
    /// checked: a file swapped in at `path` after the check is never reached.
    public static func open(_ path: String) -> Result<OpenFile, FileOpenError> {
        let handle = Glibc.open(path, __O_PATH | O_CLOEXEC)
        guard handle >= 0 else { return .failure(.systemCall(SystemCallError("open(O_PATH)", subject: path))) }
        defer { Glibc.close(handle) }
        var status = stat()
        guard fstat(handle, &status) == 0 else { return .failure(.systemCall(SystemCallError("fstat", subject: path))) }
        guard status.st_mode & S_IFMT == S_IFREG else {
            return .failure(.notRegularFile(path: path, type: FileOpenError.typeName(mode: status.st_mode)))
        }
        let fd = Glibc.open("/proc/self/fd/\(handle)", O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return .failure(.systemCall(SystemCallError("open", subject: path))) }
        return .success(OpenFile(fileDescriptor: fd, path: path, status: status))
    }

    /// The whole file, read with `pread`; nil on a read error or beyond `limit` bytes.
    public func readAll(limit: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var offset: Int64 = 0
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(fileDescriptor, $0.baseAddress, $0.count, off_t(offset)) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            offset += Int64(count)
            if bytes.count > limit { return nil }
        }
    }

    /// `count` bytes from `offset`, read with `pread`; nil on a read error or if the file
    /// ends first.
    public func read(offset: UInt64, count: Int) -> [UInt8]? {
        guard count >= 0, offset <= UInt64(Int64.max) else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let result = bytes.withUnsafeMutableBytes {
                pread(fileDescriptor, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { return nil }
            done += result
        }
        return bytes
    }

    /// The CRC-32 of the whole file (zlib's `crc32`), as `.gnu_debuglink` records it.
    func crc32() -> UInt32? {
        var crc: UInt32 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(fileDescriptor, $0.baseAddress, $0.count, off_t(offset)) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
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
    case notRegularFile(path: String, type: String)

    public var description: String {
        switch self {
        case .systemCall(let error):
            return "\(error)"
        case .notRegularFile(let path, let type):
            return "\(path) is \(type), not a regular file: not opened (a FIFO or device could block the aggregator, or act on being opened); "
                + "remove it or put the real file there"
        }
    }

    /// `st_mode`'s file type in words.
    static func typeName(mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFDIR: "a directory"
        default: "of type \(String(mode & S_IFMT, radix: 8))"
        }
    }
}

/// Reads a small text file (procfs, perf maps) completely; nil if it cannot be read.
func readTextFile(_ path: String, limit: Int = 64 << 20) -> String? {
    guard case .success(let file) = OpenFile.open(path), let bytes = file.readAll(limit: limit) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}
