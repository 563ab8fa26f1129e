/// HotSpot's UNSIGNED5 integers (CompressedStream): 1 to 5 bytes, low digits first; a byte
/// below 192 ends the number, the others carry 6 bits each beyond the first byte's value.
/// Signed values are zigzag-coded on top. JDK 17 writes no excluded byte values (JDK 20+
/// shift every byte by one to keep 0 free, which `excluded` would describe).
struct HotSpotUnsigned5Reader {
    private static let lowLimit: UInt8 = 192
    private static let maximumBytes = 5

    let bytes: ArraySlice<UInt8>
    private(set) var position: Int
    let excluded: UInt8

    init(_ bytes: ArraySlice<UInt8>, excluded: UInt8 = 0) {
        self.bytes = bytes
        self.position = bytes.startIndex
        self.excluded = excluded
    }

    var atEnd: Bool { position >= bytes.endIndex }

    mutating func readByte() -> UInt8? {
        guard position < bytes.endIndex else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    /// nil: the bytes end inside the number, or hold an excluded byte.
    mutating func readUnsigned() -> UInt32? {
        var sum: UInt32 = 0
        for index in 0..<Self.maximumBytes {
            guard let byte = readByte(), byte >= excluded else { return nil }
            sum &+= UInt32(byte - excluded) << UInt32(6 * index)
            if byte < Self.lowLimit { break }
        }
        return sum
    }

    mutating func readSigned() -> Int32? {
        guard let value = readUnsigned() else { return nil }
        return Int32(bitPattern: value >> 1) ^ -Int32(bitPattern: value & 1)
    }
}
