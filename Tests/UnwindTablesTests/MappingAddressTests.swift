import Foundation
import Testing
@testable import UnwindTableCompiler
@testable import UnwindTableFormat

/// Where an executable mapping of a file starts in the file's ELF addresses: the loader
/// maps each `PT_LOAD` from its page-aligned file offset, which for LLD's packed layout
/// (p_vaddr − p_offset = 0x1000 for the code segment) is inside the previous segment's bytes.
@Suite struct MappingAddressTests {
    /// The pgoff and start the kernel gives the mapping of `segment` for a load address `base`.
    static func kernelMapping(of segment: UnwindTable.LoadSegment, base: UInt64) -> (start: UInt64, pgoff: UInt64) {
        let misalignment = segment.virtualAddress % 4096
        return (base + segment.virtualAddress - misalignment, segment.fileOffset - misalignment)
    }

    @Test func packedSegmentsAsLLDLinksThem() {
        // The layout of an LLD-linked PIE: R at offset 0, R E packed right after it in the
        // file, 0x1000 higher in memory; the code mapping's pgoff 0 is the R segment's first byte.
        let readOnly = UnwindTable.LoadSegment(fileOffset: 0, virtualAddress: 0, fileSize: 0x5F0, isExecutable: false)
        let code = UnwindTable.LoadSegment(fileOffset: 0x5F0, virtualAddress: 0x15F0, fileSize: 0x150, isExecutable: true)
        let data = UnwindTable.LoadSegment(fileOffset: 0x740, virtualAddress: 0x2740, fileSize: 0x1D8, isExecutable: false)
        let table = UnwindTable(rows: [], statistics: .init(), loadSegments: [readOnly, code, data])
        #expect(table.elfAddress(ofMappingAt: 0) == 0x1000)
        // A byte is still where its own segment puts it.
        #expect(table.elfAddress(fileOffset: 0) == 0)
        #expect(table.elfAddress(fileOffset: 0x600) == 0x1600)
    }

    @Test func pageAlignedSegmentsAsGNULdLinksThem() {
        let readOnly = UnwindTable.LoadSegment(fileOffset: 0, virtualAddress: 0, fileSize: 0x628, isExecutable: false)
        let code = UnwindTable.LoadSegment(fileOffset: 0x1000, virtualAddress: 0x1000, fileSize: 0x1A5, isExecutable: true)
        let table = UnwindTable(rows: [], statistics: .init(), loadSegments: [readOnly, code])
        #expect(table.elfAddress(ofMappingAt: 0x1000) == 0x1000)
        #expect(table.elfAddress(ofMappingAt: 0x3000) == nil)
        // A non-PIE executable's segments at 0x400000.
        let fixed = UnwindTable(rows: [], statistics: .init(), loadSegments: [
            .init(fileOffset: 0, virtualAddress: 0x400000, fileSize: 0x4F0, isExecutable: false),
            .init(fileOffset: 0x4F0, virtualAddress: 0x4014F0, fileSize: 0x200, isExecutable: true),
        ])
        #expect(fixed.elfAddress(ofMappingAt: 0) == 0x401000)
    }

    @Test func segmentsWhoseOffsetCannotBeMappedAreIgnored() {
        // p_vaddr mod page above p_offset: no page-aligned offset maps it.
        let table = UnwindTable(rows: [], statistics: .init(), loadSegments: [
            .init(fileOffset: 0x10, virtualAddress: 0x1800, fileSize: 0x100, isExecutable: true),
            // A size that overflows once the page's first bytes are added.
            .init(fileOffset: 0x2800, virtualAddress: 0x3800, fileSize: .max, isExecutable: true),
        ])
        #expect(table.elfAddress(ofMappingAt: 0) == nil)
        #expect(table.elfAddress(ofMappingAt: 0x2000) == nil)
    }

    /// A C program linked by LLD (the Swift toolchain's `ld.lld`, as rustc links): every
    /// function's address in a simulated process, turned into an ELF address through its
    /// mapping, finds the function's own rows.
    @Test func programLinkedByLLDFindsItsRowsThroughItsMapping() throws {
        let lld = "/opt/swift/usr/bin/ld.lld"
        try #require(FileManager.default.isExecutableFile(atPath: lld), "\(lld) (the Swift toolchain's LLD) is missing")
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        let path = try compileC(workloadSource, name: "lld", flags: ["-O2", "-fomit-frame-pointer", "-fuse-ld=lld", "-B/opt/swift/usr/bin"],
                                in: directory)
        let table = try UnwindTable.compile(elfBytes: try readFile(path))
        let code = try #require(table.loadSegments.first { $0.isExecutable })
        try #require(code.virtualAddress != code.fileOffset, "LLD no longer packs the code segment: \(table.loadSegments)")
        let (mismatches, checked) = compare(table, with: try ReadelfFrames(path: path), section: ".eh_frame")
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        #expect(checked > 10)

        let base: UInt64 = 0x5555_5555_4000
        let mapping = Self.kernelMapping(of: code, base: base)
        let bias = try #require(table.elfAddress(ofMappingAt: mapping.pgoff)) &- mapping.start
        for name in ["leaf", "big_frame", "dynamic", "recurse", "framed", "main"] {
            let function = try #require(try functionSymbol(name, in: path))
            let pc = base + function.address + 1
            #expect(pc &+ bias == function.address + 1, "\(name)")
            #expect(table.lookup(address: pc &+ bias) == table.lookup(address: function.address + 1), "\(name)")
        }
    }
}
