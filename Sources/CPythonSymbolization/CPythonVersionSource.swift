import CPythonLayouts
import ELF

/// Where an interpreter file says which CPython it is.
///
/// - 3.11+: the `Py_Version` symbol, a `const unsigned long` holding `PY_VERSION_HEX`.
/// - 3.8-3.10 (and older): the library directory name compiled into `getpath.c`
///   (`"lib/python" VERSION` in 3.8, `"/python" VERSION` in 3.9/3.10) in `.rodata`: a
///   string ending in `python3.X`, at a string's start or after a `/`; every such string
///   must agree. Not the soname: Debian's and Ubuntu's interpreters are static
///   executables without one. Not the `PY_VERSION` string ("3.8.18"): the linker merges
///   it into the tail of another string (pyenv's 3.8 keeps it only as the end of
///   "/root/.pyenv/versions/3.8.18"), so it cannot be told from other version-like text.
enum CPythonVersionSource {
    /// `.rodata` larger than this is not scanned (CPython's is 1-2 MB).
    static let maximumReadOnlyDataSize: UInt64 = 64 << 20

    /// The version `Py_Version` at `address` holds, or nil if its bytes are not in the file.
    static func version(atPyVersion address: UInt64, in elf: ELFFile) throws(ELFFileError) -> CPythonVersion? {
        guard let range = elf.fileRange(ofVirtualAddress: address), range.available >= 4 else { return nil }
        let bytes = try elf.source.bytes(at: range.offset, count: 4, place: "Py_Version")
        let hex = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        return CPythonVersion(major: UInt8(hex >> 24), minor: UInt8(hex >> 16 & 0xFF))
    }

    /// The library directory's version in `.rodata`: nil when there is none or when
    /// strings disagree.
    static func libraryDirectoryVersion(in elf: ELFFile) throws(ELFFileError) -> CPythonVersion? {
        guard let section = elf.section(named: ".rodata") else { return nil }
        let data = try elf.storedBytes(of: section, limit: maximumReadOnlyDataSize)
        let marker = Array("python".utf8)
        var versions: Set<CPythonVersion> = []
        var position = 0
        while let start = firstIndex(of: marker, in: data, from: position) {
            position = start + 1
            guard start == 0 || data[start - 1] == 0 || data[start - 1] == UInt8(ascii: "/") else { continue }
            if let version = version(in: data, at: start + marker.count) { versions.insert(version) }
        }
        return versions.count == 1 ? versions.first : nil
    }

    /// "M.N" followed by the string's NUL at `position`.
    private static func version(in data: [UInt8], at position: Int) -> CPythonVersion? {
        guard let (major, dot) = number(in: data, at: position), dot < data.count, data[dot] == UInt8(ascii: "."),
              let (minor, end) = number(in: data, at: dot + 1), end < data.count, data[end] == 0
        else { return nil }
        return CPythonVersion(major: major, minor: minor)
    }

    /// One to three decimal digits at `position` (at most 255), and where they end.
    private static func number(in data: [UInt8], at position: Int) -> (UInt8, Int)? {
        var value = 0
        var index = position
        while index < data.count, index - position < 3, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(data[index]) {
            value = value * 10 + Int(data[index] - UInt8(ascii: "0"))
            index += 1
        }
        guard index > position, value <= 255 else { return nil }
        return (UInt8(value), index)
    }

    private static func firstIndex(of pattern: [UInt8], in data: [UInt8], from start: Int) -> Int? {
        guard let first = pattern.first, data.count >= pattern.count else { return nil }
        var index = start
        while index <= data.count - pattern.count {
            if data[index] == first, data[index..<index + pattern.count].elementsEqual(pattern) { return index }
            index += 1
        }
        return nil
    }
}
