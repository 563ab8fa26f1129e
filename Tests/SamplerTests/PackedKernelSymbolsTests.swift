@testable import SamplerCore
import Testing
import WireFormat

@Suite("packed kernel symbols")
struct PackedKernelSymbolsTests {
    static let symbols = [
        KernelSymbol(address: 0xffff_ffff_8100_0000, type: UInt8(ascii: "T"), name: "_stext"),
        KernelSymbol(address: 0xffff_ffff_8100_0100, type: UInt8(ascii: "t"), name: "a_name_longer_than_fifteen_bytes"),
        KernelSymbol(address: 0xffff_ffff_c000_0000, type: UInt8(ascii: "t"), name: "nft_do_chain", module: "nf_tables"),
        KernelSymbol(address: 0xffff_ffff_c000_1000, type: UInt8(ascii: "T"), name: "", module: "ext4"),
        KernelSymbol(address: 0xffff_ffff_c000_2000, type: UInt8(ascii: "w"), name: "nft_trace", module: "nf_tables"),
    ]

    @Test("gives back every symbol as it was, in any range")
    func roundTrip() {
        let packed = PackedKernelSymbols(Self.symbols)
        #expect(packed.count == Self.symbols.count)
        #expect(packed[0..<packed.count] == Self.symbols)
        #expect(packed[2..<4] == Array(Self.symbols[2..<4]))
        #expect(packed[3..<3].isEmpty)
    }

    @Test("addresses all zero (kptr_restrict) are recognised; none is not")
    func hiddenAddresses() {
        let hidden = Self.symbols.map { KernelSymbol(address: 0, type: $0.type, name: $0.name, module: $0.module) }
        #expect(PackedKernelSymbols(hidden).addressesHidden)
        #expect(!PackedKernelSymbols(Self.symbols).addressesHidden)
        let empty: PackedKernelSymbols = []
        #expect(!empty.addressesHidden)
        #expect(empty.count == 0)
    }
}
