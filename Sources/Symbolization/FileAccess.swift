import CTandemELF
#if canImport(Glibc)
import Glibc
#endif

/// A file opened read-only, with its `fstat` identity. Closes on `close()` or deinit.
final class OpenFile {
    let fileDescriptor: Int32
    /// The path it was opened by (possibly under `/proc/PID/root`).
    let path: String
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let modificationTime: Int

    private init(fileDescriptor: Int32, path: String, status: stat) {
        self.fileDescriptor = fileDescriptor
        self.path = path
        self.device = UInt64(status.st_dev)
        self.inode = UInt64(status.st_ino)
        self.size = Int64(status.st_size)
        self.modificationTime = Int(status.st_mtim.tv_sec)
    }

    deinit { Glibc.close(fileDescriptor) }

    /// Opens `path` (`open(O_RDONLY | O_CLOEXEC)`, then `fstat`) if it is a regular file;
    /// the error names the call and errno.
    static func open(_ path: String) -> Result<OpenFile, FileError> {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(FileError(call: "open", path: path, errno: errno)) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let error = FileError(call: "fstat", path: path, errno: errno)
            Glibc.close(fd)
            return .failure(error)
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            Glibc.close(fd)
            return .failure(FileError(call: "open", path: path, errno: EINVAL, detail: "not a regular file"))
        }
        return .success(OpenFile(fileDescriptor: fd, path: path, status: status))
    }

    /// The whole file, read with `pread`; nil on a read error or beyond `limit` bytes.
    func readAll(limit: Int) -> [UInt8]? {
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
    func read(offset: UInt64, count: Int) -> [UInt8]? {
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
            crc = chunk.withUnsafeBufferPointer { tandem_crc32(crc, $0.baseAddress, count) }
            offset += Int64(count)
        }
    }
}

/// A failed file operation: the call, the path and errno.
struct FileError: Error, CustomStringConvertible {
    var call: String
    var path: String
    var errno: Int32
    var detail: String?

    var description: String {
        "\(call)(\(path)): \(detail ?? String(cString: strerror(errno)))"
    }
}

/// Reads a small text file (procfs, perf maps) completely; nil if it cannot be read.
func readTextFile(_ path: String, limit: Int = 64 << 20) -> String? {
    guard case .success(let file) = OpenFile.open(path), let bytes = file.readAll(limit: limit) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}
