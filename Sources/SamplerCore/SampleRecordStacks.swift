import CTandemBPF

/// A sample record's kernel and user stacks, read in place in the ring buffer. A plain
/// sample is packed (each stack as long as its walk, the user stack right after the kernel
/// stack); the walkers' and off-CPU samples hold `struct tandem_sample_event` whole
/// (bpf/tandem_sampler.h).
struct SampleRecordStacks {
    /// bpf_get_stack's results: bytes written, or a negative errno.
    let kernelBytes: Int32
    let userBytes: Int32
    let kernel: UnsafeBufferPointer<UInt64>
    let user: UnsafeBufferPointer<UInt64>

    /// A record that holds the whole struct (the caller checked its size).
    init(fixed record: UnsafeRawBufferPointer) {
        let (kernelBytes, userBytes) = Self.results(record)
        self.init(record, kernelBytes: kernelBytes, userBytes: userBytes,
                  kernelOffset: Self.kernelStackOffset, userOffset: Self.userStackOffset)
    }

    /// A packed plain sample; nil when the record is shorter than the stacks it announces.
    init?(packed record: UnsafeRawBufferPointer) {
        guard record.count >= Self.kernelStackOffset else { return nil }
        let (kernelBytes, userBytes) = Self.results(record)
        let userOffset = Self.kernelStackOffset + Self.wordBytes(kernelBytes)
        guard record.count >= userOffset + Self.wordBytes(userBytes) else { return nil }
        self.init(record, kernelBytes: kernelBytes, userBytes: userBytes,
                  kernelOffset: Self.kernelStackOffset, userOffset: userOffset)
    }

    private init(_ record: UnsafeRawBufferPointer, kernelBytes: Int32, userBytes: Int32, kernelOffset: Int, userOffset: Int) {
        self.kernelBytes = kernelBytes
        self.userBytes = userBytes
        // Ring buffer records are 8-byte aligned, and so are the stack words within.
        let base = record.baseAddress!
        kernel = UnsafeBufferPointer(start: base.advanced(by: kernelOffset).assumingMemoryBound(to: UInt64.self),
                                     count: Self.wordBytes(kernelBytes) / 8)
        user = UnsafeBufferPointer(start: base.advanced(by: userOffset).assumingMemoryBound(to: UInt64.self),
                                   count: Self.wordBytes(userBytes) / 8)
    }

    private static func results(_ record: UnsafeRawBufferPointer) -> (kernel: Int32, user: Int32) {
        (record.loadUnaligned(fromByteOffset: kernelBytesOffset, as: Int32.self),
         record.loadUnaligned(fromByteOffset: userBytesOffset, as: Int32.self))
    }

    /// The whole words a result wrote, at most one stack array's: none for an error.
    private static func wordBytes(_ result: Int32) -> Int {
        min(Int(max(0, result)), Int(TANDEM_MAX_FRAMES) * 8) & ~7
    }

    // Computed, so that each folds to a constant (a static let costs a swift_once per use).
    private static var kernelBytesOffset: Int { MemoryLayout<tandem_sample_event>.offset(of: \.kernel_stack_bytes)! }
    private static var userBytesOffset: Int { MemoryLayout<tandem_sample_event>.offset(of: \.user_stack_bytes)! }
    private static var kernelStackOffset: Int { MemoryLayout<tandem_sample_event>.offset(of: \.kernel_stack)! }
    private static var userStackOffset: Int { MemoryLayout<tandem_sample_event>.offset(of: \.user_stack)! }
}
