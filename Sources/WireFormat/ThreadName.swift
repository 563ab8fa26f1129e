/// A thread's name as the kernel keeps it (`comm`, `TASK_COMM_LEN` = 16 bytes with the
/// terminating NUL), held as its raw bytes so that the sampler compares it per sample
/// without making a string.
public struct ThreadName: Hashable, Sendable {
    /// The 16 bytes, little-endian halves; bytes after the first NUL are zero.
    public var low: UInt64
    public var high: UInt64

    /// The longest name on the wire, in UTF-8 bytes: the kernel's 15, which also keeps the
    /// decoder's per-thread strings inline (Swift stores up to 15 UTF-8 bytes without
    /// allocating).
    public static let maximumLength = 15

    public init() {
        low = 0
        high = 0
    }

    /// From the kernel's 16 comm bytes (`bpf_get_current_comm`); what follows the first NUL
    /// is ignored, so stale bytes after a shorter name do not make it differ.
    public init(commBytes: UnsafeRawBufferPointer) {
        if commBytes.count >= 16 {
            // Per sample in the sampler: two words, cut at the first NUL.
            low = commBytes.loadUnaligned(as: UInt64.self)
            high = commBytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            if let kept = Self.bytesBeforeNUL(low) {
                low &= kept
                high = 0
            } else if let kept = Self.bytesBeforeNUL(high) {
                high &= kept
            }
            return
        }
        var bytes = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &bytes) { out in
            for index in 0..<min(16, commBytes.count) {
                let byte = commBytes[index]
                if byte == 0 { break }
                out[index] = byte
            }
        }
        low = bytes.0
        high = bytes.1
    }

    /// A mask of the bytes of `word` (little-endian) before its first zero byte; nil if it
    /// has none. The lowest flagged byte of the zero-byte test is exact (a borrow only
    /// flags bytes above a true zero).
    private static func bytesBeforeNUL(_ word: UInt64) -> UInt64? {
        let flagged = (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
        guard flagged != 0 else { return nil }
        let firstZeroBit = UInt64(flagged.trailingZeroBitCount - 7)
        return firstZeroBit == 0 ? 0 : (UInt64(1) << firstZeroBit) &- 1
    }

    /// From text (a decoded stream's name, a test's): its first ``maximumLength`` UTF-8
    /// bytes on a character boundary.
    public init(_ text: String) {
        var bytes = (UInt64(0), UInt64(0))
        let utf8 = Array(text.truncatedUTF8(to: Self.maximumLength).utf8)
        withUnsafeMutableBytes(of: &bytes) { out in
            for (index, byte) in utf8.enumerated() where byte != 0 { out[index] = byte }
        }
        low = bytes.0
        high = bytes.1
    }

    public var isEmpty: Bool { low == 0 && high == 0 }

    /// The name as text: invalid UTF-8 repaired, cut to ``maximumLength`` bytes on a
    /// character boundary.
    public var text: String {
        withUnsafeBytes(of: (low, high)) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self).truncatedUTF8(to: Self.maximumLength)
        }
    }
}
