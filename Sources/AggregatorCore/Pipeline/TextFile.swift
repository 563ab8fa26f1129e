#if canImport(Glibc)
import Glibc
import SystemCalls
#endif

/// Writes `text` to `path` ("-" is standard output) with `open`, `write`, `close`.
func writeText(_ text: String, to path: String) throws(SystemCallError) {
    let output: FileDescriptor
    if path == "-" {
        // A duplicate, so that closing what this owns leaves standard output open.
        let duplicate = dup(STDOUT_FILENO)
        guard duplicate >= 0 else { throw .last("dup", subject: "standard output") }
        output = FileDescriptor(owning: duplicate)
    } else {
        output = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_TRUNC, permissions: 0o644)
    }
    do throws(SystemCallError) {
        try output.writeAll(Array(text.utf8)[...])
    } catch {
        throw SystemCallError(error.call, subject: path, errno: error.errno)
    }
}
