import ELF
import UnwindTableFormat

/// The `.debug_frame` section of a file's separate debug file, as stored there: read by
/// the caller (only this section, not the whole debug file) and compiled with the file.
public struct SeparateDebugFrame: Hashable, Sendable {
    /// The section's bytes as stored in the debug file (starting with its `Elf64_Chdr`
    /// when compressed).
    public var contents: [UInt8]
    /// `sh_addr` (0 in practice: `.debug_frame` is not loaded).
    public var address: UInt64
    /// `SHF_COMPRESSED` is set in `sh_flags`.
    public var isCompressed: Bool

    public init(contents: [UInt8], address: UInt64, isCompressed: Bool) {
        self.contents = contents
        self.address = address
        self.isCompressed = isCompressed
    }

    /// The `.debug_frame` of a whole debug file held in memory, or nil when it has none.
    public init?(debugFileBytes: [UInt8]) throws(UnwindTableError) {
        do throws(UnwindTableError) {
            let elf = try ELFFile.unwindable(ELFImage(bytes: debugFileBytes))
            guard let section = elf.section(named: ".debug_frame") else { return nil }
            let start = Int(section.offset)
            self.init(contents: Array(debugFileBytes[start..<start + Int(section.size)]), address: section.address,
                      isCompressed: section.isCompressed)
        } catch {
            throw error.in(.separateDebugFile)
        }
    }
}
