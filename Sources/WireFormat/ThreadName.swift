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
