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
                tandem_procmap_query(fd, address, UInt64(TANDEM_PROCMAP_QUERY_VMA_EXECUTABLE | TANDEM_PROCMAP_QUERY_COVERING_OR_NEXT_VMA),
                                     &query, $0.baseAddress, UInt32($0.count))
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
}
