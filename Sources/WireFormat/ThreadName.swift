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
        // Two words (the sampler's comm is always 16 bytes: loaded, not copied), cut at the
        // first NUL.
        var words = (UInt64(0), UInt64(0))
        if commBytes.count >= 16 {
            words = (commBytes.loadUnaligned(as: UInt64.self), commBytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        } else {
            withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: commBytes) }
        }
        if let kept = Self.bytesBeforeNUL(words.0) {
            words = (words.0 & kept, 0)
        } else if let kept = Self.bytesBeforeNUL(words.1) {
            words.1 &= kept
        }
        low = words.0
        high = words.1
    }

    /// A mask of the bytes of `word` (little-endian) before its first zero byte; nil if it
    /// has none. The lowest flagged byte of the zero-byte test is exact (a borrow only
    /// flags bytes above a true zero).
    private static func bytesBeforeNUL(_ word: UInt64) -> UInt64? {
        let flagged = (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
        guard flagged != 0 else { return nil }
        return (UInt64(1) << UInt64(flagged.trailingZeroBitCount - 7)) &- 1
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
