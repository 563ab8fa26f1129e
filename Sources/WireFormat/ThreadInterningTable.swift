/// Thread references by pid and tid, for the encoder's interning: an open-addressing table,
/// as `StackInterningTable`, because a lookup runs for every sample and a `Dictionary`
/// ran the whole of `Hasher` on each key. Entries are replaced (a renamed thread) or
/// removed all at once, never one by one.
struct ThreadInterningTable {
    private struct Slot {
        var key: UInt64
        /// 0: the slot is free (thread references start at 1).
        var reference: UInt64
        var name: ThreadName
    }

    private static let initialCapacity = 64
    private var slots: [Slot]
    private var used = 0

    init() {
        slots = Self.emptySlots(Self.initialCapacity)
    }

    /// The reference `key`'s thread was defined under, if it was, with `name`: a thread
    /// renamed since is defined again.
    func reference(of key: UInt64, named name: ThreadName) -> UInt64? {
        slots.withUnsafeBufferPointer { slots in
            var index = Self.start(key, slots.count)
            while slots[index].reference != 0 {
                if slots[index].key == key { return slots[index].name == name ? slots[index].reference : nil }
                index = (index + 1) & (slots.count - 1)
            }
            return nil
        }
    }

    /// Records `key`'s thread as defined under `reference` (not 0) with `name`.
    mutating func set(_ key: UInt64, reference: UInt64, name: ThreadName) {
        precondition(reference != 0, "thread reference 0 is never defined")
        if (used + 1) * 4 > slots.count * 3 { grow() }
        if place(Slot(key: key, reference: reference, name: name)) { used += 1 }
    }

    mutating func removeAll() {
        slots = Self.emptySlots(Self.initialCapacity)
        used = 0
    }

    /// Stores `slot` in its key's slot or the first free one; true if the key is new.
    private mutating func place(_ slot: Slot) -> Bool {
        slots.withUnsafeMutableBufferPointer { slots in
            var index = Self.start(slot.key, slots.count)
            while slots[index].reference != 0, slots[index].key != slot.key { index = (index + 1) & (slots.count - 1) }
            let isNew = slots[index].reference == 0
            slots[index] = slot
            return isNew
        }
    }

    private mutating func grow() {
        let old = slots
        slots = Self.emptySlots(old.count * 2)
        for slot in old where slot.reference != 0 { _ = place(slot) }
    }

    /// Fibonacci hashing: the low bits of the upper half of the key times 2^64 / φ, so that
    /// pids and tids counting up spread over the table.
    private static func start(_ key: UInt64, _ count: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & (count - 1)
    }

    private static func emptySlots(_ count: Int) -> [Slot] {
        Array(repeating: Slot(key: 0, reference: 0, name: ThreadName()), count: count)
    }
}
