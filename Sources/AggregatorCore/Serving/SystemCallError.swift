#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which call, on what, and the `errno` it set.
public struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The C function that failed, e.g. `bind`.
    public var call: String
    /// What it was called on (a path, a descriptor), if useful.
    public var subject: String
    public var errno: Int32

    public init(_ call: String, subject: String = "", errno: Int32 = Glibc.errno) {
        self.call = call
        self.subject = subject
        self.errno = errno
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        let on = subject.isEmpty ? "" : " (\(subject))"
        return "\(call)\(on) failed: \(reason) (errno \(errno))"
    }
}
