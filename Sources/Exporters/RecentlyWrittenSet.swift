/// The ids of documents Elasticsearch has accepted, so that each is written once: a set
/// bounded by count that forgets the least recently used id first. Forgetting costs
/// only a rewrite of the same document under the same id.
///
/// Not thread-safe; its owner guards it.
struct RecentlyWrittenSet<Key: Hashable> {
    let capacity: Int
    private var slots: [Key: Int] = [:]
    private var keys: [Key?] = []
    /// Doubly linked list through slot numbers, most recent at `head`.
    private var previous: [Int] = []
    private var next: [Int] = []
    private var head = -1
    private var tail = -1

    init(capacity: Int) {
        precondition(capacity > 0, "a write-once set needs room for at least one id")
        self.capacity = capacity
    }

    var count: Int { slots.count }

    /// Whether `key` was accepted; marks it as recently used.
    mutating func contains(_ key: Key) -> Bool {
        guard let slot = slots[key] else { return false }
        moveToFront(slot)
        return true
    }

    /// Remembers `key`, forgetting the least recently used id when full.
    mutating func insert(_ key: Key) {
        if let slot = slots[key] {
            moveToFront(slot)
            return
        }
        let slot: Int
        if slots.count < capacity {
            slot = keys.count
            keys.append(key)
            previous.append(-1)
            next.append(-1)
        } else {
            slot = tail
            unlink(slot)
            if let old = keys[slot] { slots[old] = nil }
            keys[slot] = key
        }
        slots[key] = slot
        linkAtFront(slot)
    }

    private mutating func moveToFront(_ slot: Int) {
        guard slot != head else { return }
        unlink(slot)
        linkAtFront(slot)
    }

    private mutating func unlink(_ slot: Int) {
        let before = previous[slot], after = next[slot]
        if before >= 0 { next[before] = after } else { head = after }
        if after >= 0 { previous[after] = before } else { tail = before }
        previous[slot] = -1
        next[slot] = -1
    }

    private mutating func linkAtFront(_ slot: Int) {
        next[slot] = head
        previous[slot] = -1
        if head >= 0 { previous[head] = slot }
        head = slot
        if tail < 0 { tail = slot }
    }
}
