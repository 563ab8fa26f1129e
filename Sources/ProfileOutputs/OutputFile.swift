import SystemCalls
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
        let descriptor = try { () throws(ProfileOutputError) in
            do throws(SystemCallError) {
                return try FileDescriptor.open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC, permissions: 0o644)
            } catch {
                throw .writeFailed(path: path, systemCall: error)
            }
        }()
        do throws(SystemCallError) {
            try descriptor.writeAll(bytes[...])
            try descriptor.close()
        } catch {
            unlink(temporaryPath)
            throw .writeFailed(path: path, systemCall: error)
        }
        guard rename(temporaryPath, path) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw .writeFailed(path: path, systemCall: SystemCallError("rename", subject: "\(temporaryPath) to \(path)", errno: code))
        }
    }
}
