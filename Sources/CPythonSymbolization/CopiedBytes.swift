/// Little-endian reads from a copy of an object, checked against what was copied.
extension [UInt8] {
    /// The `T` at `offset`, or `truncatedHeader` when the copy ends first.
    func loadLittleEndian<T: FixedWidthInteger>(_ type: T.Type, at offset: Int, object: String) throws(CPythonObjectError) -> T {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= count, size <= count - offset else {
            throw .truncatedHeader(object: object, offset: offset, size: size, copied: count)
        }
        return withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}

extension UInt16 {
    /// This layout offset, or `absentField(name)` for `CPythonLayout.absent`.
    func present(_ name: String) throws(CPythonObjectError) -> Int {
        guard self != 0xFFFF else { throw .absentField(name) }
        return Int(self)
    }
}
