/// The bounds the decoder enforces; memory use is bounded by them.
///
/// Worst case held by a decoder: its input buffer (at most one record plus one
/// chunk fed), the interning tables (8 bytes per interned frame, about 72 bytes
/// per interned stack, 16 per thread) and one decoded record. With the defaults
/// that is about 125 MiB for a hostile stream that fills every table with
/// one-frame stacks, a few MiB for a real one (docs/wire-format.md, section 6).
public struct DecoderLimits: Hashable, Sendable {
    /// Largest record payload, in bytes.
    public var maximumRecordLength: Int
    /// Longest string (path, name), in bytes.
    public var maximumStringLength: Int
    /// Most frames in one stack.
    public var maximumFramesPerStack: Int
    /// Most interned stacks alive at once (ids 1...maximumStacks).
    public var maximumStacks: Int
    /// Most frames summed over all interned stacks alive at once.
    public var maximumInternedFrames: Int
    /// Most interned (pid, tid) pairs alive at once.
    public var maximumThreads: Int
    /// Most entries in one list (mappings, kernel symbols, modules, counters).
    public var maximumListLength: Int

    public init(maximumRecordLength: Int = 4 << 20, maximumStringLength: Int = 4096,
                maximumFramesPerStack: Int = 1024, maximumStacks: Int = 1 << 20,
                maximumInternedFrames: Int = 4 << 20, maximumThreads: Int = 1 << 20,
                maximumListLength: Int = 1 << 16) {
        self.maximumRecordLength = maximumRecordLength
        self.maximumStringLength = maximumStringLength
        self.maximumFramesPerStack = maximumFramesPerStack
        self.maximumStacks = maximumStacks
        self.maximumInternedFrames = maximumInternedFrames
        self.maximumThreads = maximumThreads
        self.maximumListLength = maximumListLength
    }

    public static let `default` = DecoderLimits()
}

/// The bounds the encoder keeps so that every stream it writes decodes under
/// `DecoderLimits.default`, and so that its own memory stays bounded: when an
/// interning table is full it writes `resetInterning` and starts over.
///
/// A sample may define two stacks at once, so `maximumStacks` should be at
/// least 2; stacks are cut to `maximumInternedFrames / 2` frames if that is
/// lower than `maximumFramesPerStack`.
public struct EncoderLimits: Hashable, Sendable {
    public var maximumStacks: Int
    public var maximumInternedFrames: Int
    public var maximumThreads: Int
    /// Longer stacks are cut (leaf side kept) and flagged truncated.
    public var maximumFramesPerStack: Int
    /// Longer strings are cut at a character boundary.
    public var maximumStringLength: Int
    /// Kernel symbols per record.
    public var kernelSymbolsPerRecord: Int
    /// Largest record payload; longer lists are cut to fit.
    public var maximumRecordLength: Int
    /// Most entries in one list.
    public var maximumListLength: Int

    public init(maximumStacks: Int = 1 << 16, maximumInternedFrames: Int = 1 << 20,
                maximumThreads: Int = 1 << 16, maximumFramesPerStack: Int = 1024,
                maximumStringLength: Int = 4096, kernelSymbolsPerRecord: Int = 4096,
                maximumRecordLength: Int = 4 << 20, maximumListLength: Int = 1 << 16) {
        self.maximumStacks = maximumStacks
        self.maximumInternedFrames = maximumInternedFrames
        self.maximumThreads = maximumThreads
        self.maximumFramesPerStack = maximumFramesPerStack
        self.maximumStringLength = maximumStringLength
        self.kernelSymbolsPerRecord = kernelSymbolsPerRecord
        self.maximumRecordLength = maximumRecordLength
        self.maximumListLength = maximumListLength
    }
}
