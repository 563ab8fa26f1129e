#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SystemCalls

/// Writes whole output files so that a reader never sees half of one: the
/// bytes go to a temporary file next to the target, which is then renamed
/// over it.
enum OutputFile {
    static func replaceContents(ofFile path: String, with bytes: [UInt8]) throws(ProfileOutputError) {
        let temporaryPath = "\(path).tmp-\(getpid())"
        // open(2): 0644, as an exported profile is not secret to its owner's group.
        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw .writeFailed(path: path, systemCall: .last("open", subject: temporaryPath))
        }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            }
            if result < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(descriptor)
                unlink(temporaryPath)
                throw .writeFailed(path: path, systemCall: SystemCallError("write", subject: temporaryPath, errno: code))
            }
            written += result
        }
        guard close(descriptor) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw .writeFailed(path: path, systemCall: SystemCallError("close", subject: temporaryPath, errno: code))
        }
        guard rename(temporaryPath, path) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw .writeFailed(path: path, systemCall: SystemCallError("rename", subject: "\(temporaryPath) to \(path)", errno: code))
        }
    }
}
