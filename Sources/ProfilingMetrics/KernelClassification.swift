import Profiles

/// Classifies the kernel frames of a stack by the functions they run.
///
/// The table below is the whole rule set, highest priority first. A pattern
/// starting with `^` matches at the start of a function name; any other
/// pattern matches anywhere in it.
public enum KernelClassifier {
    /// (class, patterns), highest priority first.
    ///
    /// Beyond the connector's names, tandem adds the functions that newer
    /// kernels run instead (Linux 6.x, checked on 6.18): anonymous pipes go
    /// through `anon_pipe_read`/`anon_pipe_write`, ext4 writes through
    /// `ext4_buffered_write_iter`/`ext4_dio_write_iter` (the old entry point is
    /// inlined away), and fsync through `ext4_sync_file`, `xfs_file_fsync`,
    /// `btrfs_sync_file` and `vfs_fsync_range`. The classes and their attribute
    /// values stay those of the connector; only more stacks reach them.
    public static let table: [(kernelClass: String, patterns: [String])] = [
        ("network/tcp/read", ["^tcp_recvmsg", "^tcp_read", "^tcp_rcv", "^tcp_v4_rcv", "^tcp_v6_rcv"]),
        ("network/tcp/write", ["^tcp_sendmsg", "^tcp_transmit", "^tcp_write", "^tcp_push", "^tcp_sendpage"]),
        ("network/udp/read", ["^udp_recvmsg", "^udp_read", "^udp_rcv", "^udp_v4_rcv", "^udp_v6_rcv"]),
        ("network/udp/write", ["^udp_sendmsg", "^udp_write", "^udp_push", "^udp_sendpage"]),
        ("ipc//read", ["^pipe_read", "^anon_pipe_read", "^eventfd_read", "^unix_stream_read_generic", "^unix_stream_recvmsg"]),
        ("ipc//write", ["^pipe_write", "^anon_pipe_write", "^eventfd_write", "^unix_stream_write_generic", "^unix_stream_sendmsg"]),
        ("network/other/read", ["^sock_recvmsg", "^__sock_recvmsg", "^sock_read_iter"]),
        ("network/other/write", ["^sock_sendmsg", "^__sock_sendmsg", "^sock_write_iter"]),
        ("disk//read", ["^ext4_file_read_iter", "^xfs_file_read_iter", "^btrfs_file_read_iter", "^filemap_read",
                        "^generic_file_read_iter"]),
        ("disk//write", ["^ext4_file_write_iter", "^xfs_file_write_iter", "^btrfs_file_write_iter", "^filemap_write",
                         "^generic_file_write_iter", "^writeback_sb_inodes", "^ext4_buffered_write_iter",
                         "^ext4_dio_write_iter", "^ext4_sync_file", "^xfs_file_fsync", "^btrfs_sync_file",
                         "^vfs_fsync_range"]),
        ("memory", ["^do_mmap", "do_munmap", "^do_anonymous_page", "mmap_", "madvise", "^handle_mm_fault",
                    "^alloc_pages", "^free_pages"]),
        ("synchronization", ["futex", "^schedule", "__schedule", "^wake_up_", "^wake_q_"]),
    ]

    /// Prefixes of the function that enters a system call; the rest of the name
    /// (its leading `[0-9A-Za-z_]` run) is the system call.
    public static let syscallPrefixes = ["__x64_sys_", "__arm64_sys_", "ksys_"]

    private struct Pattern {
        var bytes: [UInt8]
        var anchored: Bool
    }

    private static let compiled: [[Pattern]] = table.map { row in
        row.patterns.map { pattern in
            pattern.hasPrefix("^") ? Pattern(bytes: Array(pattern.utf8.dropFirst()), anchored: true)
                                   : Pattern(bytes: Array(pattern.utf8), anchored: false)
        }
    }
    private static let compiledSyscallPrefixes: [[UInt8]] = syscallPrefixes.map { Array($0.utf8) }

    /// The index in `table` of the highest-priority class whose patterns match
    /// `name`, considering only rows before `limit`.
    public static func classIndex(of name: String, before limit: Int = table.count) -> Int? {
        var name = name
        return name.withUTF8 { bytes in
            for row in 0..<min(limit, compiled.count) where compiled[row].contains(where: { matches($0, bytes) }) {
                return row
            }
            return nil
        }
    }

    /// The system call a function enters, if its name is a system call entry.
    public static func syscallName(of name: String) -> String? {
        var name = name
        return name.withUTF8 { bytes -> String? in
            for prefix in compiledSyscallPrefixes where bytes.count > prefix.count
                && bytes.prefix(prefix.count).elementsEqual(prefix) {
                let rest = bytes[prefix.count...]
                let end = rest.firstIndex { !isWordByte($0) } ?? rest.endIndex
                guard end > rest.startIndex else { return nil }
                return String(decoding: rest[rest.startIndex..<end], as: UTF8.self)
            }
            return nil
        }
    }

    /// Classifies a kernel stack from the function names of its consecutive
    /// kernel frames, leaf first (`nil` for a frame without a symbol).
    ///
    /// The highest-priority class matched anywhere wins; the walk stops at the
    /// first system call entry (which is itself tested against the classes). A
    /// `network/tcp/read` class under the `write` system call becomes
    /// `network/tcp/write`.
    public static func classify<Names: Sequence<String?>>(functionNames: Names) -> KernelStackClassification {
        var best: Int?
        var syscall: String?
        for case let name? in functionNames {
            if best != 0, let row = classIndex(of: name, before: best ?? table.count) { best = row }
            if let found = syscallName(of: name) {
                syscall = found
                break
            }
        }
        var kernelClass = best.map { table[$0].kernelClass }
        if syscall == "write", kernelClass == "network/tcp/read" { kernelClass = "network/tcp/write" }
        return KernelStackClassification(kernelClass: kernelClass, syscallName: syscall)
    }

    private static func matches(_ pattern: Pattern, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
        let needle = pattern.bytes
        guard name.count >= needle.count else { return false }
        if pattern.anchored { return name.prefix(needle.count).elementsEqual(needle) }
        let first = needle[0]
        var start = 0
        let last = name.count - needle.count
        while start <= last {
            if name[start] == first {
                var offset = 1
                while offset < needle.count, name[start + offset] == needle[offset] { offset += 1 }
                if offset == needle.count { return true }
            }
            start += 1
        }
        return false
    }

    @inline(__always)
    private static func isWordByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
    }
}
