import WireFormat

/// The kernel's text symbols, held from start-up for the start of every stream, as the
/// kernel symbols records that stream carries: encoded once (address deltas as varints,
/// names as bytes), then copied into each stream. The records are whole and carry no
/// interned reference, so the same bytes are right for every stream with the encoder's
/// default limits (`StreamOutput`'s). About 1 MiB less than the symbols in flat arrays
/// for a Debian kernel's 120 000, and no unpacking when a stream starts.
public struct EncodedKernelSymbols: Sendable {
    private let bytes: [UInt8]
    /// Where each chunk's records end in `bytes`; a chunk starts where the previous one ends.
    private let chunkEnds: [Int]
    /// Symbols encoded.
    public let count: Int
    /// Whether every address is 0: `kernel.kptr_restrict` hid them.
    public let addressesHidden: Bool

    /// Encodes `symbols`, `perChunk` at a time: a stream gets them a chunk at a time, so
    /// that its other records are not held back by all of them at once.
    public init(_ symbols: [KernelSymbol], perChunk: Int) {
        count = symbols.count
        addressesHidden = !symbols.isEmpty && symbols.allSatisfy { $0.address == 0 }
        var encoded: [UInt8] = []
        var ends: [Int] = []
        var start = 0
        while start < symbols.count {
            let end = min(symbols.count, start + max(1, perChunk))
            encoded.append(contentsOf: StreamEncoder.encodedRecords(.kernelSymbols(KernelSymbols(symbols: Array(symbols[start..<end])))))
            ends.append(encoded.count)
            start = end
        }
        // Held for the process's life: exactly its size, not the append's spare capacity.
        bytes = [UInt8](unsafeUninitializedCapacity: encoded.count) { buffer, initialized in
            initialized = buffer.initialize(fromContentsOf: encoded)
        }
        chunkEnds = ends
    }

    public static let empty = EncodedKernelSymbols([], perChunk: 1)

    /// Chunks of records, in order.
    public var chunkCount: Int { chunkEnds.count }

    /// The encoded records of chunk `index`.
    public subscript(chunk index: Int) -> ArraySlice<UInt8> {
        bytes[(index == 0 ? 0 : chunkEnds[index - 1])..<chunkEnds[index]]
    }
}
