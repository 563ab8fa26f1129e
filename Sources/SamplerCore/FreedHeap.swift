import CTandemMalloc

/// glibc keeps what a program frees, so the sampler's heap stays at its high-water mark (the
/// start-up reads, each stream's snapshot, each batch of unwind tables: 8 MiB at 99 Hz on a
/// Debian host). `malloc_trim` gives it back but leaves it free in glibc's count, so a trim is
/// due only when the free total grew by 1 MiB since the last: trimming the same pages
/// every time would fault them in again at the next allocations.
struct FreedHeap {
    /// The free total (`mallinfo2(3)`'s `fordblks`) after the last trim, lowered as it is reused.
    private var freeAfterTrim = 0

    /// `malloc_trim(3)` when due; otherwise one `mallinfo2(3)`.
    mutating func releaseIfGrown() {
        let free = Int(mallinfo2().fordblks)
        freeAfterTrim = min(freeAfterTrim, free)
        guard free > freeAfterTrim + 1 << 20 else { return }
        _ = malloc_trim(0)
        freeAfterTrim = Int(mallinfo2().fordblks)
    }
}
