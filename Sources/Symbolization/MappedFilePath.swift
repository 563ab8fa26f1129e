/// Which mapped files, as a stream describes them, the aggregator opens as ELF files.
///
/// The stream's paths are untrusted (a replayed capture can say anything), and some files
/// that are not ELF files on disk still pass `OpenFile.open`'s regular-file check: procfs
/// and sysfs files are `S_IFREG` (`/proc/self/mem`, `/proc/self/environ`).
public enum MappedFilePath {
    /// Why the file mapped at `path` (as `/proc/PID/maps` writes it, `" (deleted)"`
    /// removed) with `inode` is not opened, or nil when it may be.
    public static func refusal(path: String, inode: UInt64) -> String? {
        // The kernel writes inode 0 for memory that is no file on disk (pseudo files,
        // anonymous shared memory): nothing to read symbols from, and no identity to check
        // what was opened against.
        if inode == 0 { return "\(path): the mapping has no inode, so it is not a file on disk; not opened" }
        guard path.hasPrefix("/") else { return "\(path): not an absolute path; not opened" }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        // The kernel writes canonical paths; "..", "." or "//" could step into /proc.
        if components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            return "\(path): not a canonical path (empty, . or .. components); not opened"
        }
        if let first = components.first, pseudoFileSystems.contains(String(first)) {
            return "\(path): a kernel pseudo-file under /\(first), not an ELF file on disk; not opened"
        }
        return nil
    }

    /// Top-level directories of kernel pseudo-filesystems and device nodes.
    static let pseudoFileSystems: Set<String> = ["proc", "sys", "dev"]
}
