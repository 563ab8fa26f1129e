@testable import SamplerCore
import StreamDecoding
import Testing
import WireFormat

@Suite("encoded kernel symbols")
struct EncodedKernelSymbolsTests {
    static let header = StreamHeader(hostName: "h", kernelRelease: "6.18", bootID: "b",
                                     clock: ClockReference(monotonicNanoseconds: 1, realtimeNanoseconds: 2),
                                     cpuCount: 2, samplesPerSecond: 99, samplerVersion: "t")
    static let symbols = [
        KernelSymbol(address: 0xffff_ffff_8100_0000, type: UInt8(ascii: "T"), name: "_stext"),
        KernelSymbol(address: 0xffff_ffff_8100_0100, type: UInt8(ascii: "t"), name: "a_name_longer_than_fifteen_bytes"),
        KernelSymbol(address: 0xffff_ffff_c000_0000, type: UInt8(ascii: "t"), name: "nft_do_chain", module: "nf_tables"),
        KernelSymbol(address: 0xffff_ffff_c000_1000, type: UInt8(ascii: "T"), name: "", module: "ext4"),
        KernelSymbol(address: 0xffff_ffff_c000_2000, type: UInt8(ascii: "w"), name: "nft_trace", module: "nf_tables"),
    ]

    /// The stream the sampler wrote before the symbols were kept encoded: each chunk appended as a record.
    static func streamAppendingValues(_ symbols: [KernelSymbol], perChunk: Int) -> [UInt8] {
        var encoder = StreamEncoder(header: header)
        for start in stride(from: 0, to: symbols.count, by: perChunk) {
            encoder.append(.kernelSymbols(KernelSymbols(symbols: Array(symbols[start..<min(symbols.count, start + perChunk)]))))
        }
        return encoder.takeBytes()
    }

    static func streamAppendingEncoded(_ encoded: EncodedKernelSymbols) -> [UInt8] {
        var encoder = StreamEncoder(header: header)
        for chunk in 0..<encoded.chunkCount { encoder.appendEncoded(encoded[chunk: chunk]) }
        return encoder.takeBytes()
    }

    @Test("a stream gets the same bytes as from the symbols themselves, and decodes to every symbol")
    func sameStream() throws {
        let encoded = EncodedKernelSymbols(Self.symbols, perChunk: 2)
        #expect(encoded.count == 5)
        #expect(encoded.chunkCount == 3)
        let bytes = Self.streamAppendingEncoded(encoded)
        #expect(bytes == Self.streamAppendingValues(Self.symbols, perChunk: 2))
        var decoder = StreamDecoder()
        decoder.feed(bytes)
        var decoded: [KernelSymbol] = []
        while let record = try decoder.next() {
            if case .kernelSymbols(let chunk) = record { decoded += chunk.symbols }
        }
        #expect(decoded == Self.symbols)
    }

    @Test("many symbols: chunks as the sampler cuts them, the same bytes in every stream")
    func manySymbols() {
        let many = (0..<2500).map { KernelSymbol(address: 0xffff_ffff_8100_0000 + UInt64($0) * 16, type: UInt8(ascii: "T"), name: "function_\($0)") }
        let encoded = EncodedKernelSymbols(many, perChunk: 1024)
        #expect(encoded.chunkCount == 3)
        let first = Self.streamAppendingEncoded(encoded)
        #expect(first == Self.streamAppendingValues(many, perChunk: 1024))
        #expect(Self.streamAppendingEncoded(encoded) == first)
    }

    @Test("addresses all zero (kptr_restrict) are recognised; none is not")
    func hiddenAddresses() {
        let hidden = Self.symbols.map { KernelSymbol(address: 0, type: $0.type, name: $0.name, module: $0.module) }
        #expect(EncodedKernelSymbols(hidden, perChunk: 1024).addressesHidden)
        #expect(!EncodedKernelSymbols(Self.symbols, perChunk: 1024).addressesHidden)
        #expect(!EncodedKernelSymbols.empty.addressesHidden)
        #expect(EncodedKernelSymbols.empty.count == 0)
        #expect(EncodedKernelSymbols.empty.chunkCount == 0)
    }
}
