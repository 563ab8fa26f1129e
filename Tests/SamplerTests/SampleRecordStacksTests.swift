import CTandemBPF
import Testing
@testable import SamplerCore

/// A packed plain sample's stacks are read where the BPF side puts them, and a record
/// shorter than the stacks it announces is refused (bpf/tandem_sampler.h).
@Suite struct SampleRecordStacksTests {
    static let stacksOffset = MemoryLayout<tandem_sample_event>.offset(of: \.kernel_stack)!

    /// The bytes of a packed record: the struct's fields up to the kernel stack, then the words.
    static func packed(kernelBytes: Int32, userBytes: Int32, kernel: [UInt64], user: [UInt64], cutBy: Int = 0) -> [UInt8] {
        var event = tandem_sample_event()
        event.kernel_stack_bytes = kernelBytes
        event.user_stack_bytes = userBytes
        var bytes = withUnsafeBytes(of: event) { Array($0.prefix(stacksOffset)) }
        for word in kernel + user { withUnsafeBytes(of: word) { bytes += $0 } }
        return Array(bytes.dropLast(cutBy))
    }

    /// 8-byte aligned, as ring buffer records are.
    static func read<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        let words = UnsafeMutableRawBufferPointer.allocate(byteCount: max(8, bytes.count), alignment: 8)
        defer { words.deallocate() }
        words.copyBytes(from: bytes)
        return try body(UnsafeRawBufferPointer(rebasing: words[..<bytes.count]))
    }

    @Test func userWordsFollowTheKernelWords() throws {
        let bytes = Self.packed(kernelBytes: 16, userBytes: 24, kernel: [0xffff_1, 0xffff_2], user: [1, 2, 3])
        let (kernel, user) = try Self.read(bytes) { record in
            let stacks = try #require(SampleRecordStacks(packed: record))
            return (Array(stacks.kernel), Array(stacks.user))
        }
        #expect(kernel == [0xffff_1, 0xffff_2])
        #expect(user == [1, 2, 3])
    }

    @Test func anErrorResultHasNoWords() throws {
        // bpf_get_stack's -EFAULT for the kernel stack: the user words start at the stacks' offset.
        let bytes = Self.packed(kernelBytes: -14, userBytes: 16, kernel: [], user: [7, 8])
        let (kernelBytes, kernel, user) = try Self.read(bytes) { record in
            let stacks = try #require(SampleRecordStacks(packed: record))
            return (stacks.kernelBytes, Array(stacks.kernel), Array(stacks.user))
        }
        #expect(kernelBytes == -14)
        #expect(kernel.isEmpty)
        #expect(user == [7, 8])
    }

    @Test(arguments: [1, 8, 24])
    func aRecordShorterThanItsStacksIsRefused(cutBy: Int) {
        let bytes = Self.packed(kernelBytes: 8, userBytes: 16, kernel: [9], user: [1, 2], cutBy: cutBy)
        #expect(Self.read(bytes) { SampleRecordStacks(packed: $0) } == nil)
    }

    @Test func aRecordShorterThanItsHeaderIsRefused() {
        let bytes = Array(Self.packed(kernelBytes: 0, userBytes: 0, kernel: [], user: []).prefix(Self.stacksOffset - 1))
        #expect(Self.read(bytes) { SampleRecordStacks(packed: $0) } == nil)
    }

    @Test func anAnnouncedLengthPastTheArraysIsCutToOneArray() throws {
        // A hostile length: at most TANDEM_MAX_FRAMES words are read, and only if the record holds them.
        let user = (0..<UInt64(TANDEM_MAX_FRAMES)).map { $0 + 1 }
        let bytes = Self.packed(kernelBytes: 0, userBytes: Int32.max, kernel: [], user: user)
        let read = try Self.read(bytes) { record in try #require(SampleRecordStacks(packed: record)).user.count }
        #expect(read == Int(TANDEM_MAX_FRAMES))
        let short = Array(bytes.dropLast(8))
        #expect(Self.read(short) { SampleRecordStacks(packed: $0) } == nil)
    }
}
