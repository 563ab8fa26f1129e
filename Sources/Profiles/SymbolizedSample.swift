/// An on-CPU sample whose frames have been symbolized.
public struct SymbolizedSample: Sendable {
    /// Kernel monotonic time of each event this sample stands for, in nanoseconds
    /// (wall-clock conversion uses the stream's clock reference).
    public var timestamps: [UInt64]
    public var process: ProcessIdentity
    public var threadID: Int32
    /// The thread's own name (`comm`) when sampled; empty when the stream does not say.
    public var threadName: String
    /// 0 for an on-CPU sample; else how long the thread was off the CPU, waiting with
    /// these frames, before `timestamps`' time.
    public var offCPUNanoseconds: UInt64
    public var cpu: UInt32
    /// The frames, leaf first: position 0 is where the CPU was. Kernel frames
    /// (if any) come before user frames.
    public var frames: [Frame]
    /// The sampler could not walk the user stack to its root.
    public var userStackTruncated: Bool

    public init(timestamps: [UInt64], process: ProcessIdentity, threadID: Int32, cpu: UInt32,
                frames: [Frame], userStackTruncated: Bool = false, threadName: String = "",
                offCPUNanoseconds: UInt64 = 0) {
        self.timestamps = timestamps
        self.process = process
        self.threadID = threadID
        self.threadName = threadName
        self.offCPUNanoseconds = offCPUNanoseconds
        self.cpu = cpu
        self.frames = frames
        self.userStackTruncated = userStackTruncated
    }

    /// `thread.name`: the thread's own name, else its process's (`comm`).
    public var threadDisplayName: String { threadName.isEmpty ? process.comm : threadName }

    /// How many samples this stands for: the number of timestamps, at least 1.
    public var weight: Int64 { Int64(max(1, timestamps.count)) }
}
