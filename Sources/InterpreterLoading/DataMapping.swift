import CTandemBPF
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// One mapping of a process, as `PROCMAP_QUERY` describes the one holding an address.
package struct DataMapping: Sendable {
    package var start: UInt64
    package var end: UInt64
    package var device: UInt64
    package var inode: UInt64
    package var isWritable: Bool
    package var isExecutable: Bool

    package init(start: UInt64, end: UInt64, device: UInt64, inode: UInt64, isWritable: Bool, isExecutable: Bool) {
        self.start = start
        self.end = end
        self.device = device
        self.inode = inode
        self.isWritable = isWritable
        self.isExecutable = isExecutable
    }
}

extension DataMapping {
    /// The mapping of `pid` that holds `address`, as the kernel sees it now; nil when
    /// none does or the query fails (the caller refuses what it cannot check). An
    /// anonymous writable mapping that starts exactly where a writable mapping of a file
    /// ends is that file's zero-filled tail (.bss: CPython 3.8's `_PyRuntime` is there), and
    /// is described as part of the file's mapping.
    package static func mapping(holding address: UInt64, pid: Int32, root: String = "/proc") -> DataMapping? {
        guard let fd = try? FileDescriptor.open("\(root)/\(pid)/maps", O_RDONLY) else { return nil }
        func query(_ address: UInt64) -> tandem_procmap_query? {
            var query = tandem_procmap_query()
            while tandem_procmap_query(fd.rawValue, address, 0, &query, nil, 0) != 0 {
                guard errno == EINTR else { return nil }
            }
            guard query.vma_start <= address, address < query.vma_end else { return nil }
            return query
        }
        func isWritable(_ query: tandem_procmap_query) -> Bool {
            query.vma_flags & UInt64(TANDEM_PROCMAP_QUERY_VMA_WRITABLE) != 0
        }
        guard let holding = query(address) else { return nil }
        var file = holding
        if holding.inode == 0, isWritable(holding), holding.vma_start > 0, let before = query(holding.vma_start - 1),
           before.inode != 0, before.vma_end == holding.vma_start, isWritable(before) {
            file = before
        }
        return DataMapping(start: file.vma_start, end: holding.vma_end,
                                  device: makeDeviceNumber(major: UInt64(file.dev_major), minor: UInt64(file.dev_minor)),
                                  inode: file.inode, isWritable: isWritable(holding),
                                  isExecutable: holding.vma_flags & UInt64(TANDEM_PROCMAP_QUERY_VMA_EXECUTABLE) != 0)
    }
}
