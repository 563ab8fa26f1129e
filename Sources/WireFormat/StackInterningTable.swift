#if canImport(Glibc)
import Glibc
#endif

/// Stack ids by frames, for the encoder's interning. A lookup hashes the frames
/// where they lie (the sampler's ring buffer record) and copies nothing: the table
/// is keyed by a digest of the frames, and two stacks that share a digest take
/// the next free digests (linear probing; entries are only ever removed all at once).
struct StackInterningTable {
    private struct Entry {
        var id: UInt64
        var frames: [UInt64]
    }

    private var entries: [UInt64: Entry] = [:]
    /// Bits of the digest used as the key: all of them, except in tests that make
    /// every stack collide.
    private let digestMask: UInt64

    init(digestMask: UInt64 = .max) {
        self.digestMask = digestMask
    }

    /// The id of `frames`, if interned.
    func id(of frames: UnsafeBufferPointer<UInt64>) -> UInt64? {
        var key = Self.digest(frames) & digestMask
        while let entry = entries[key] {
            if Self.equal(entry.frames, frames) { return entry.id }
            key &+= 1
        }
        return nil
    }

    /// Interns `frames` (not interned yet) as `id`.
    mutating func insert(_ frames: UnsafeBufferPointer<UInt64>, id: UInt64) {
        var key = Self.digest(frames) & digestMask
        while entries[key] != nil { key &+= 1 }
        entries[key] = Entry(id: id, frames: Array(frames))
    }

    mutating func removeAll() {
        entries.removeAll()
    }

    /// A multiply-xor digest: strong enough to spread real stacks, cheap next to
    /// feeding every frame through `Hasher`.
    static func digest(_ frames: UnsafeBufferPointer<UInt64>) -> UInt64 {
        var digest = UInt64(truncatingIfNeeded: frames.count) &* 0x9E37_79B9_7F4A_7C15
        for address in frames {
            digest = (digest ^ address) &* 0xFF51_AFD7_ED55_8CCD
            digest ^= digest >> 32
        }
        return digest
    }

    private static func equal(_ stored: [UInt64], _ frames: UnsafeBufferPointer<UInt64>) -> Bool {
        guard stored.count == frames.count else { return false }
        guard let base = frames.baseAddress else { return true }
        return stored.withUnsafeBufferPointer { memcmp($0.baseAddress!, base, frames.count * 8) == 0 }
    }
}
