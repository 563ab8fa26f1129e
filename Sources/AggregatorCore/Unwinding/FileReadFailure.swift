import Symbolization
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Why a mapped file (a candidate path, or a descriptor the sampler passed) was not read.
/// Failed calls keep their `SystemCallError`; the other cases are what `fstat` showed.
enum FileReadFailure: Error, CustomStringConvertible {
    /// It did not open (`OpenFile.open`: no such file, permission, not a regular file).
    case notOpened(FileOpenError)
    /// A call on the open file failed (`fstat`).
    case systemCall(SystemCallError)
    case notRegularFile(name: String)
    case otherFile(name: String, found: FileIdentity, expected: FileIdentity)
    case tooLarge(name: String, size: Int64, limit: Int)

    /// The path did not lead to the mapped file (it did not open, or it is another file,
    /// such as the host's file of the same name as a container's): a descriptor from
    /// the sampler may still give it. Failures after the file was found are final.
    var isAccessFailure: Bool {
        switch self {
        case .notOpened, .notRegularFile, .otherFile: true
        case .systemCall, .tooLarge: false
        }
    }

    var description: String {
        switch self {
        case .notOpened(let error):
            "\(error)"
        case .systemCall(let error):
            "\(error)"
        case .notRegularFile(let name):
            "\(name): not a regular file"
        case .otherFile(let name, let found, let expected):
            "\(name): device/inode \(found.device)/\(found.inode) is not the mapped file's \(expected.device)/\(expected.inode)"
        case .tooLarge(let name, let size, let limit):
            "\(name): \(size) bytes, above the limit \(limit)"
        }
    }

    /// The size of the open file `fd` (`name` in messages) if `fstat` shows the regular
    /// file `identity` of at most `limit` bytes; otherwise why not.
    static func check(_ fd: Int32, name: String, identity: FileIdentity, limit: Int) -> Result<Int, FileReadFailure> {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return .failure(.systemCall(.last("fstat", subject: name))) }
        guard status.st_mode & S_IFMT == S_IFREG else { return .failure(.notRegularFile(name: name)) }
        let found = FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        guard found == identity else { return .failure(.otherFile(name: name, found: found, expected: identity)) }
        guard Int(status.st_size) <= limit else { return .failure(.tooLarge(name: name, size: Int64(status.st_size), limit: limit)) }
        return .success(Int(status.st_size))
    }
}
