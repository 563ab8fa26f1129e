#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An open file descriptor that this value owns: closed exactly once, by `close()` or
/// when the value goes away. Noncopyable, so ownership moves (`consume`, `release()`)
/// and is never shared by accident; a descriptor lent to C is `rawValue`.
///
/// The one descriptor type of both daemons: no raw `Int32` owns a descriptor elsewhere.
public struct FileDescriptor: ~Copyable, Sendable {
    /// The descriptor number, lent: valid while this value lives.
    public let rawValue: Int32

    /// Takes ownership of `rawValue`, a descriptor a C call just returned.
    public init(owning rawValue: Int32) {
        self.rawValue = rawValue
    }

    deinit {
        _ = Glibc.close(rawValue)
    }

    /// `close(2)`, for a caller that wants its error (a delayed write error on some file
    /// systems). The descriptor is closed whether or not it throws; `EINTR` is not retried,
    /// since Linux has already released the number.
    public consuming func close() throws(SystemCallError) {
        let fd = rawValue
        discard self
        guard Glibc.close(fd) == 0 else { throw .last("close", subject: "descriptor \(fd)") }
    }

    /// Gives up ownership without closing, for a call that takes the descriptor over
    /// (`fdopen`, a library that closes it itself).
    public consuming func release() -> Int32 {
        let fd = rawValue
        discard self
        return fd
    }

    /// `open(2)`; `O_CLOEXEC` is always added.
    public static func open(
        _ path: String, _ flags: Int32, permissions: mode_t = 0
    ) throws(SystemCallError) -> FileDescriptor {
        let fd = Glibc.open(path, flags | O_CLOEXEC, permissions)
        guard fd >= 0 else { throw .last("open", subject: path) }
        return FileDescriptor(owning: fd)
    }

    /// `open(2)` with `O_PATH`: names the file without opening it, so no device driver's
    /// `open` runs, no FIFO waits for a writer and no terminal becomes the controlling one.
    /// Check it with `status()`, then `reopen(_:)` it for I/O.
    ///
    /// `O_PATH` is spelled `__O_PATH`: `<fcntl.h>` names it `O_PATH` only under
    /// `_GNU_SOURCE`, which Swift's Glibc module is built without.
    public static func openPath(_ path: String, _ flags: Int32 = 0) throws(SystemCallError) -> FileDescriptor {
        let fd = Glibc.open(path, __O_PATH | O_CLOEXEC | flags)
        guard fd >= 0 else { throw .last("open(O_PATH)", subject: path) }
        return FileDescriptor(owning: fd)
    }

    /// `fstat(2)`.
    public func status() throws(SystemCallError) -> stat {
        var status = stat()
        guard fstat(rawValue, &status) == 0 else { throw .last("fstat", subject: "descriptor \(rawValue)") }
        return status
    }

    /// `open("/proc/self/fd/N", flags)`: the very inode this (typically `O_PATH`)
    /// descriptor refers to, opened anew for I/O with the usual permission checks. A file
    /// renamed into the original path since is never reached.
    public func reopen(_ flags: Int32) throws(SystemCallError) -> FileDescriptor {
        let fd = Glibc.open("/proc/self/fd/\(rawValue)", flags | O_CLOEXEC)
        guard fd >= 0 else { throw .last("open(/proc/self/fd/\(rawValue))") }
        return FileDescriptor(owning: fd)
    }

    /// `read(2)` into `buffer`, retried on `EINTR`; 0 at the end of the file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> Int {
        while true {
            let count = Glibc.read(rawValue, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno != EINTR { throw .last("read", subject: "descriptor \(rawValue)") }
        }
    }

    /// `read(2)` into the whole of `buffer`, retried on `EINTR`; 0 at the end of the file.
    /// The array form the readers of captures and procfs files hold their bytes in.
    public func read(into buffer: inout [UInt8]) throws(SystemCallError) -> Int {
        // Result carries the typed error through withUnsafeMutableBytes, which rethrows untyped.
        let count = buffer.withUnsafeMutableBytes { bytes in Result { () throws(SystemCallError) in try read(into: bytes) } }
        return try count.get()
    }

    /// `pread(2)` at `offset` into `buffer`, retried on `EINTR`; 0 at the end of the file.
    public func read(
        fromAbsoluteOffset offset: Int64, into buffer: UnsafeMutableRawBufferPointer
    ) throws(SystemCallError) -> Int {
        while true {
            let count = pread(rawValue, buffer.baseAddress, buffer.count, off_t(offset))
            if count >= 0 { return count }
            if errno != EINTR { throw .last("pread", subject: "descriptor \(rawValue)") }
        }
    }

    /// `write(2)` until all of `bytes` is written, retried on `EINTR`.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemCallError) {
        var done = 0
        while done < bytes.count {
            let count = Glibc.write(rawValue, bytes.baseAddress! + done, bytes.count - done)
            if count < 0 {
                if errno == EINTR { continue }
                throw .last("write", subject: "descriptor \(rawValue)")
            }
            done += count
        }
    }

    /// `write(2)` until all of `bytes` is written, retried on `EINTR`: the array form the
    /// file writers (captures, reports, profiles) hold their bytes in.
    public func writeAll(_ bytes: ArraySlice<UInt8>) throws(SystemCallError) {
        // Result carries the typed error through withUnsafeBytes, which rethrows untyped.
        let written = bytes.withUnsafeBytes { buffer in Result { () throws(SystemCallError) in try writeAll(buffer) } }
        try written.get()
    }
}
