/// The `.gnu_debuglink` section: the separate debug file's base name and its CRC-32.
public struct ELFDebugLink: Hashable, Sendable {
    public var fileName: String
    public var crc: UInt32

    public init(fileName: String, crc: UInt32) {
        self.fileName = fileName
        self.crc = crc
    }
}

extension ELFFile {
    /// A debug link holds a file name (at most `NAME_MAX`) and a CRC.
    static let maximumDebugLinkSize: UInt64 = 4096

    /// The `.gnu_debuglink` of the file: a NUL-terminated file name, padding to 4 bytes,
    /// then the CRC-32. Nil when there is none; throws when it is malformed.
    public func debugLink() throws(ELFFileError) -> ELFDebugLink? {
        guard let section = section(named: ".gnu_debuglink") else { return nil }
        let bytes = try storedBytes(of: section, limit: Self.maximumDebugLinkSize)
        guard let end = bytes.firstIndex(of: 0) else {
            throw ELFFileError(.unterminatedName(offset: 0), file: name, place: section.name, offset: 0)
        }
        let crcOffset = (end + 4) & ~3
        guard end > 0, crcOffset + 4 <= bytes.count else {
            throw ELFFileError(.malformedHeader(field: "debug link size", value: section.size), file: name,
                               place: section.name, offset: UInt64(crcOffset))
        }
        return ELFDebugLink(fileName: String(decoding: bytes[..<end], as: UTF8.self),
                            crc: bytes.littleEndian32(at: crcOffset))
    }
}
