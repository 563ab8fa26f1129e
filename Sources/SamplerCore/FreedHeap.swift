import CTandemMalloc

/// glibc keeps what a program frees for its next allocations, so the sampler's heap stays
/// at its high-water mark: the start-up reads (/proc/kallsyms, the /proc scan), each
/// stream's start-of-stream snapshot and each batch of unwind tables leave megabytes free
/// but resident (8 MiB at 99 Hz on a Debian host). The live set is small and steady, so
/// what is free beyond `threshold` goes back to the system.
enum FreedHeap {
    /// Free heap bytes (`mallinfo2(3)`'s `fordblks`) above which `releaseIfLarge()` trims.
    static let threshold = 1 << 20

    /// `malloc_trim(3)` when more than `threshold` bytes are free; otherwise one `mallinfo2(3)`.
    static func releaseIfLarge() {
        if Int(mallinfo2().fordblks) > threshold { _ = malloc_trim(0) }
    }
}
