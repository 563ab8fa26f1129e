import CTandemMalloc

/// How glibc's malloc serves the aggregator, set once in `main` before any thread starts
/// (`mallopt(3)`). Its live set is small (tens of MiB) but comes in bursts: an unwind-table
/// compile holds a file's call frame sections and rows for a moment, a connection's start
/// its processes' mappings. With glibc's defaults what a burst frees stays resident:
/// - up to 8 arenas a CPU, each keeping its own freed memory: 2 are enough for a
///   connection's thread, two compile workers and the exporters (`M_ARENA_MAX`);
/// - the mmap threshold rises to the largest block freed (up to 32 MiB), after which such
///   blocks come from, and stay in, an arena: a fixed threshold keeps every block of
///   1 MiB or more its own mapping, unmapped when freed (`M_MMAP_THRESHOLD`).
/// Measured in docs/benchmarks.md ("Aggregator peak RSS at 19 Hz").
public enum AggregatorHeap {
    public static let arenas: Int32 = 2
    public static let mmapThreshold: Int32 = 1 << 20

    /// Applies both settings; returns false if glibc refused one (the defaults stay).
    @discardableResult
    public static func configure() -> Bool {
        let arenas = mallopt(M_ARENA_MAX, arenas) == 1
        let threshold = mallopt(M_MMAP_THRESHOLD, mmapThreshold) == 1
        return arenas && threshold
    }
}
