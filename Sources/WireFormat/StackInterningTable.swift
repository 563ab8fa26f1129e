#if canImport(Glibc)
import Glibc
#endif

/// Stack ids by frames, for the encoder's interning. A lookup hashes the frames where they
/// lie (the sampler's ring buffer record) and copies nothing.
///
/// An open-addressing table of its own rather than a `Dictionary`: a lookup runs for every
/// stack of every sample, and a dictionary re-hashed the digest with `Hasher` and retained
/// and released each entry's frame array on the way. Slots hold a digest, the id and where
/// the frames lie in one flat array; entries are only ever removed all at once.
struct StackInterningTable {
    private struct Slot {
        var digest: UInt64
        /// 0: the slot is free (stack ids start at 1).
        var id: UInt64
        var start: UInt32
        var count: UInt32
    }

    private static let initialCapacity = 256
    private var slots: [Slot]
    /// Every interned stack's frames, back to back.
    private var frames: [UInt64] = []
    private var used = 0
    /// Bits of the digest used: all of them, except in tests that make every stack collide.
    private let digestMask: UInt64

    init(digestMask: UInt64 = .max) {
        self.digestMask = digestMask
        slots = Array(repeating: Slot(digest: 0, id: 0, start: 0, count: 0), count: Self.initialCapacity)
    }

    /// The id of `frames`, if interned.
    func id(of frames: UnsafeBufferPointer<UInt64>) -> UInt64? {
        let digest = Self.digest(frames) & digestMask
        return slots.withUnsafeBufferPointer { slots in
            self.frames.withUnsafeBufferPointer { stored in
                let mask = slots.count - 1
                var index = Int(truncatingIfNeeded: digest) & mask
                while true {
                    let slot = slots[index]
                    if slot.id == 0 { return nil }
                    if slot.digest == digest, Int(slot.count) == frames.count,
                       Self.equal(stored, start: Int(slot.start), frames) {
                        return slot.id
                    }
                    index = (index + 1) & mask
                }
            }
        }
    }

    /// Interns `frames` (not interned yet) as `id` (not 0). The encoder bounds the frames
    /// interned (`EncoderLimits.maximumInternedFrames`), far below 2^32.
    mutating func insert(_ frames: UnsafeBufferPointer<UInt64>, id: UInt64) {
        precondition(id != 0, "stack id 0 is the empty stack, never interned")
        if (used + 1) * 4 > slots.count * 3 { grow() }
        let slot = Slot(digest: Self.digest(frames) & digestMask, id: id, start: UInt32(self.frames.count),
                        count: UInt32(frames.count))
        self.frames.append(contentsOf: frames)
        place(slot)
        used += 1
    }

    mutating func removeAll() {
        slots = Array(repeating: Slot(digest: 0, id: 0, start: 0, count: 0), count: Self.initialCapacity)
        frames = []
        used = 0
    }

    private mutating func place(_ slot: Slot) {
        slots.withUnsafeMutableBufferPointer { slots in
            let mask = slots.count - 1
            var index = Int(truncatingIfNeeded: slot.digest) & mask
            while slots[index].id != 0 { index = (index + 1) & mask }
            slots[index] = slot
        }
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(digest: 0, id: 0, start: 0, count: 0), count: old.count * 2)
        for slot in old where slot.id != 0 { place(slot) }
    }

    /// A multiply-xor digest: strong enough to spread real stacks, cheap next to
    /// feeding every frame through `Hasher`. Its low bits pick the slot. Two lanes, even
    /// and odd frames, so that two multiplications are in flight at once: one chain was
    /// the lookup's critical path (a multiplication's latency per frame).
    static func digest(_ frames: UnsafeBufferPointer<UInt64>) -> UInt64 {
        var even = UInt64(truncatingIfNeeded: frames.count) &* 0x9E37_79B9_7F4A_7C15
        var odd = even ^ 0xC2B2_AE3D_27D4_EB4F
        var index = 0
        while index + 1 < frames.count {
            even = mix(even, frames[index])
            odd = mix(odd, frames[index + 1])
            index += 2
        }
        if index < frames.count { even = mix(even, frames[index]) }
        return mix(even, odd)
    }

    @inline(__always)
    private static func mix(_ digest: UInt64, _ word: UInt64) -> UInt64 {
        let mixed = (digest ^ word) &* 0xFF51_AFD7_ED55_8CCD
        return mixed ^ (mixed >> 32)
    }

    private static func equal(_ stored: UnsafeBufferPointer<UInt64>, start: Int, _ frames: UnsafeBufferPointer<UInt64>) -> Bool {
        guard let base = frames.baseAddress, !frames.isEmpty else { return true }
        return memcmp(stored.baseAddress! + start, base, frames.count * 8) == 0
    }
}
