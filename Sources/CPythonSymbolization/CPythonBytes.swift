import CPythonLayouts

/// The contents of a `bytes` object copied from its first byte (`PyBytesObject` header,
/// then the data), as code records carry line tables.
public struct CPythonBytes: Hashable, Sendable {
    /// Larger than any line table: a larger size is garbage.
    public static let maximumSize: Int64 = 1 << 28

    public var bytes: [UInt8]
    /// The copy ended before the last byte: `bytes` holds those that were copied.
    public var isCut: Bool

    public init(bytes: [UInt8], isCut: Bool) {
        self.bytes = bytes
        self.isCut = isCut
    }

    public init(copy: [UInt8], layout: CPythonLayout) throws(CPythonObjectError) {
        let size = try copy.loadLittleEndian(Int64.self, at: Int(layout.bytesSize), object: "bytes")
        guard size >= 0, size <= Self.maximumSize else { throw .badLength(object: "bytes", length: size) }
        let start = Int(layout.bytesData)
        let available = copy.count > start ? copy.count - start : 0
        let present = Swift.min(Int(size), available)
        self.init(bytes: present == 0 ? [] : Array(copy[start..<start + present]), isCut: present < Int(size))
    }
}
