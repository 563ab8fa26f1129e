import CPythonLoading
import CTandemBPF
import SystemCalls
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The executable mappings of a process through `ioctl(PROCMAP_QUERY)` on its
/// /proc/PID/maps (Linux 6.11+): one call per executable mapping, instead of a read
/// that has the kernel format every mapping of the process as text (most of the
/// sampler's CPU on a host that keeps starting processes).
enum ProcMapQuery {
    /// The executable mappings of the maps file open at `fd`, ascending; nil when the
    /// kernel (or the file) does not answer the query, so the caller reads the text.
    static func executableMappings(fd: Int32, path: String) throws(SystemCallError) -> [Mapping]? {
        var mappings: [Mapping] = []
        var query = tandem_procmap_query()
        var name = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        var address: UInt64 = 0
        while true {
            let result = name.withUnsafeMutableBufferPointer {
                tandem_procmap_query_executable(fd, address, &query, $0.baseAddress, UInt32($0.count))
            }
            if result != 0 {
                switch errno {
                case ENOENT: return mappings
                case ENOTTY, EINVAL, EOPNOTSUPP: return mappings.isEmpty ? nil : mappings
                case EINTR: continue
                default: throw .last("ioctl(\(path), PROCMAP_QUERY)")
                }
            }
            // vma_name_size counts the terminating NUL; 0 for anonymous memory.
            let pathLength = max(0, Int(query.vma_name_size) - 1)
            let mappingPath = name.withUnsafeBufferPointer {
                String(decoding: UnsafeRawBufferPointer($0).prefix(pathLength), as: UTF8.self)
            }
            mappings.append(Mapping(start: query.vma_start, end: query.vma_end, fileOffset: query.vma_offset,
                                    device: MapsFile.makeDevice(major: UInt64(query.dev_major), minor: UInt64(query.dev_minor)),
                                    inode: query.inode, path: mappingPath))
            guard query.vma_end > address else { return mappings }
            address = query.vma_end
        }
    }

    /// The mapping of `pid` that holds `address`, as the kernel sees it now; nil when
    /// none does or the query fails (the caller refuses what it cannot check). An
    /// anonymous writable mapping that starts exactly where a writable mapping of a file
    /// ends is that file's zero-filled tail (.bss: CPython 3.8's `_PyRuntime` is there), and
    /// is described as part of the file's mapping.
    static func mapping(holding address: UInt64, pid: Int32, root: String = "/proc") -> CPythonDataMapping? {
        guard let fd = try? FileDescriptor.open("\(root)/\(pid)/maps", O_RDONLY) else { return nil }
        func query(_ address: UInt64) -> tandem_procmap_query? {
            var query = tandem_procmap_query()
            while tandem_procmap_query_holding(fd.rawValue, address, &query) != 0 {
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
        return CPythonDataMapping(start: file.vma_start, end: holding.vma_end,
                                  device: MapsFile.makeDevice(major: UInt64(file.dev_major), minor: UInt64(file.dev_minor)),
                                  inode: file.inode, isWritable: isWritable(holding),
                                  isExecutable: holding.vma_flags & UInt64(TANDEM_PROCMAP_QUERY_VMA_EXECUTABLE) != 0)
    }
}
