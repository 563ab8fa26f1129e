import Compression
import Foundation
import Testing
import ELF
@testable import UnwindTableCompiler
@testable import UnwindTableFormat

/// zlib through the Compression module, counting what it was asked; the aggregator
/// brings its own conformance, the compiler has none (it has no C).
final class CountingZlibDecompressor: SectionDecompressor {
    var calls: [(format: SectionCompression, outputLimit: Int)] = []

    func decompress(_ compressed: ArraySlice<UInt8>, format: SectionCompression,
                    outputLimit: Int) throws(SectionDecompressionFailure) -> [UInt8] {
        calls.append((format, outputLimit))
        guard format == .zlib else { throw .unsupportedFormat(format) }
        do throws(DecompressionError) {
            return try Zlib.decompress(compressed, outputLimit: outputLimit)
        } catch .outputLimitExceeded(let limit) {
            throw .outputLimitExceeded(limit: limit)
        } catch {
            throw .corrupt(reason: error.description)
        }
    }
}

/// Flags that leave a program's unwind information in `.debug_frame` only (plus the
/// C runtime's few `.eh_frame` entries).
let debugFrameOnlyFlags = ["-O2", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-g"]

/// The section header of `name` and where its `Elf64_Chdr` starts in the file.
func sectionHeader(_ name: String, in bytes: [UInt8]) throws -> ELFFile.Section {
    try #require(try ELFFile(bytes: bytes).section(named: name))
}

func storeLittleEndian<T: FixedWidthInteger>(_ value: T, in bytes: inout [UInt8], at offset: Int) {
    for index in 0..<(T.bitWidth / 8) { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
}

@Suite struct CompressedSectionTests {
    /// A workload whose .debug_frame objcopy compressed with zlib, and the uncompressed original.
    struct Fixture {
        let directory: ScratchDirectory
        let plain: String
        let compressed: String

        init() throws {
            directory = try ScratchDirectory()
            plain = try compileC(workloadSource, name: "zdebug", flags: debugFrameOnlyFlags, in: directory)
            compressed = plain + ".zlib"
            _ = try runProgram("/usr/bin/objcopy", ["--compress-debug-sections=zlib", plain, compressed])
        }
    }

    @Test func compressedDebugFrameCompilesLikeTheUncompressedOne() throws {
        let fixture = try Fixture()
        defer { fixture.directory.remove() }
        let bytes = try readFile(fixture.compressed)
        let section = try sectionHeader(".debug_frame", in: bytes)
        #expect(section.isCompressed, "objcopy compressed .debug_frame")

        let decompressor = CountingZlibDecompressor()
        let compressed = try UnwindTable.compile(elfBytes: bytes, decompressor: decompressor)
        let plain = try UnwindTable.compile(elfBytes: try readFile(fixture.plain))
        #expect(compressed.rows == plain.rows)
        #expect(compressed.statistics.debugFrameFDEs == plain.statistics.debugFrameFDEs)
        #expect(compressed.statistics.debugFrameFDEs >= 5)
        #expect(compressed.statistics.decompressedSections == [".debug_frame"])
        #expect(compressed.statistics.skippedSections.isEmpty)
        #expect(decompressor.calls.count == 1)
        #expect(decompressor.calls.first?.format == .zlib)
        // The limit given to the decompressor is the declared size, which is the real one.
        #expect(decompressor.calls.first?.outputLimit == Int(try sectionHeader(".debug_frame", in: try readFile(fixture.plain)).size))

        // Without a decompressor the section is skipped, with the reason counted.
        let skipped = try UnwindTable.compile(elfBytes: bytes)
        #expect(skipped.statistics.debugFrameFDEs == 0)
        #expect(skipped.statistics.skippedSections == [".debug_frame (compressed, and no decompressor was given)"])
    }

    @Test func corruptCompressedDataIsATypedError() throws {
        let fixture = try Fixture()
        defer { fixture.directory.remove() }
        let original = try readFile(fixture.compressed)
        let section = try sectionHeader(".debug_frame", in: original)
        let header = Int(section.offset)
        let data = header + ELFFile.compressionHeaderSize
        let declared = littleEndian64(original, at: header + 8)

        func compile(_ bytes: [UInt8]) throws(UnwindTableError) -> UnwindTable {
            try UnwindTable.compile(elfBytes: bytes, decompressor: CountingZlibDecompressor())
        }

        // Deflate data overwritten: zlib refuses it.
        var garbage = original
        for index in data + 2..<Int(section.offset + section.size) { garbage[index] = 0xFF }
        #expect {
            _ = try compile(garbage)
        } throws: { error in
            guard let error = error as? UnwindTableError, case .decompressionFailed(.zlib, _) = error.kind else { return false }
            return error.section == ".debug_frame" && error.offset == ELFFile.compressionHeaderSize
        }

        // The stream cut short: its end marker is missing.
        var truncated = original
        storeLittleEndian(section.size - 8, in: &truncated, at: try headerOffset(of: ".debug_frame", in: original) + 32)
        #expect {
            _ = try compile(truncated)
        } throws: { error in
            guard let error = error as? UnwindTableError, case .decompressionFailed(.zlib, let reason) = error.kind else { return false }
            return reason.contains("end marker")
        }

        // ch_size smaller than the data: the decompressor stops at the declared size.
        var small = original
        storeLittleEndian(declared - 1, in: &small, at: header + 8)
        #expect(throws: UnwindTableError(.decompressedSizeMismatch(declaredSize: declared - 1, actualSize: nil),
                                         section: ".debug_frame", offset: ELFFile.compressionHeaderSize)) {
            try compile(small)
        }

        // ch_size larger than the data.
        var large = original
        storeLittleEndian(declared + 5, in: &large, at: header + 8)
        #expect(throws: UnwindTableError(.decompressedSizeMismatch(declaredSize: declared + 5, actualSize: Int(declared)),
                                         section: ".debug_frame", offset: ELFFile.compressionHeaderSize)) {
            try compile(large)
        }

        // A ch_size no zlib stream of this size can reach is refused before any allocation.
        var huge = original
        storeLittleEndian(UInt64(1) << 40, in: &huge, at: header + 8)
        #expect(throws: UnwindTableError(.compressedSectionTooLarge(declaredSize: 1 << 40, limit: UnwindTable.defaultMaximumDecompressedSectionSize),
                                         section: ".debug_frame", offset: 8)) {
            try compile(huge)
        }
        // And the caller's limit holds whatever the ratio.
        #expect(throws: UnwindTableError(.compressedSectionTooLarge(declaredSize: declared, limit: 16), section: ".debug_frame", offset: 8)) {
            try UnwindTable.compile(elfBytes: original, decompressor: CountingZlibDecompressor(), maximumDecompressedSize: 16)
        }

        // An unknown ch_type, and zstd when the decompressor has no zstd.
        var unknown = original
        storeLittleEndian(UInt32(7), in: &unknown, at: header)
        #expect(throws: UnwindTableError(.unsupportedCompression(type: 7), section: ".debug_frame", offset: 0)) {
            try compile(unknown)
        }
        var zstd = original
        storeLittleEndian(UInt32(2), in: &zstd, at: header)
        #expect(throws: UnwindTableError(.decompressionFailed(format: .zstd, reason: "zstd decompression is not available"),
                                         section: ".debug_frame", offset: ELFFile.compressionHeaderSize)) {
            try compile(zstd)
        }

        // A compressed section too short for its Elf64_Chdr.
        var short = original
        storeLittleEndian(UInt64(10), in: &short, at: try headerOffset(of: ".debug_frame", in: original) + 32)
        #expect(throws: UnwindTableError(.truncated, section: ".debug_frame", offset: 8)) {
            try compile(short)
        }
    }
}

/// File offset of the section header (`Elf64_Shdr`) of `name`.
func headerOffset(of name: String, in bytes: [UInt8]) throws -> Int {
    let elf = try ELFFile(bytes: bytes)
    let index = try #require(elf.sections.firstIndex { $0.name == name })
    return Int(littleEndian64(bytes, at: 40)) + index * 64
}
