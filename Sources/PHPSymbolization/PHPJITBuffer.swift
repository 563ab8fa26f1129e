/// Where opcache keeps its JIT code (docs/php.md, "The JIT"): in its shared memory, which no
/// ELF file describes — `mmap` of `MAP_SHARED | MAP_ANONYMOUS` (`/dev/zero (deleted)` in the
/// maps, the default), a SysV segment (`/SYSV…`) or POSIX shared memory (under `/dev/shm`).
public enum PHPJITBuffer {
    /// Whether an executable mapping of `path` may be opcache's JIT buffer.
    public static func isSharedMemory(path: String) -> Bool {
        path.hasPrefix("/dev/zero") || path.hasPrefix("/dev/shm/") || path.hasPrefix("/SYSV")
    }

    /// The JIT buffer among a process's executable mappings (`path`, `start..<end` each): the
    /// one shared-memory mapping; nil when there is none or more than one (which one would be
    /// a guess).
    public static func range<S: Sequence>(in mappings: S) -> Range<UInt64>?
    where S.Element == (path: String, start: UInt64, end: UInt64) {
        var found: Range<UInt64>?
        for mapping in mappings where isSharedMemory(path: mapping.path) && mapping.start < mapping.end {
            guard found == nil else { return nil }
            found = mapping.start..<mapping.end
        }
        return found
    }
}
