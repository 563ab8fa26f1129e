#if canImport(Glibc)
import Glibc
import SystemCalls
#endif

/// Writes `text` to `path` ("-" is standard output) with `open`, `write`, `close`.
func writeText(_ text: String, to path: String) throws(SystemCallError) {
    let fd = path == "-" ? STDOUT_FILENO : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw SystemCallError("open", subject: path) }
    defer { if fd != STDOUT_FILENO { close(fd) } }
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            throw SystemCallError("write", subject: path)
        }
        bytes = bytes.dropFirst(written)
    }
}
