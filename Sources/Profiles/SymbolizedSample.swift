/// An on-CPU sample whose frames have been symbolized.
public struct SymbolizedSample: Sendable {
    /// Kernel monotonic time of each event this sample stands for, in nanoseconds
    /// (wall-clock conversion uses the stream's clock reference).
    public var timestamps: [UInt64]
    public var process: ProcessIdentity
    public var threadID: Int32
    public var cpu: UInt32
    /// The frames, leaf first: position 0 is where the CPU was. Kernel frames
    /// (if any) come before user frames.
    public var frames: [Frame]
    /// The sampler could not walk the user stack to its root.
    public var userStackTruncated: Bool

    public init(timestamps: [UInt64], process: ProcessIdentity, threadID: Int32, cpu: UInt32,
                frames: [Frame], userStackTruncated: Bool = false) {
        self.timestamps = timestamps
        self.process = process
        self.threadID = threadID
        self.cpu = cpu
        self.frames = frames
        self.userStackTruncated = userStackTruncated
    }

    /// How many samples this stands for: the number of timestamps, at least 1.
    public var weight: Int64 { Int64(max(1, timestamps.count)) }
}
