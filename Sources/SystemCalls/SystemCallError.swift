#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system or library call: which call, on what, and the `errno` it left.
/// Shared by both daemons, so that every such error reads the same way.
public struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The C function that failed, e.g. `bind` (or the call and its subject in one,
    /// e.g. `perf_event_open(cpu 1)`).
    public var call: String
    /// What it was called on (a path, a descriptor), if useful.
    public var subject: String
    public var errno: Int32

    /// `errno` defaults to the calling thread's current one: create the error right
    /// after the failed call.
    public init(_ call: String, subject: String = "", errno: Int32 = Glibc.errno) {
        self.call = call
        self.subject = subject
        self.errno = errno
    }

    /// Captures the current `errno` for `call`.
    public static func last(_ call: String, subject: String = "") -> SystemCallError {
        SystemCallError(call, subject: subject, errno: Glibc.errno)
    }

    public var description: String {
        let on = subject.isEmpty ? "" : " (\(subject))"
        return "\(call)\(on) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
