@testable import BEAMSymbolization
import Testing

/// The decoding of a function's line-table copy, with bytes read from a live VM: Debian 12's
/// OTP 25.2.3 (ERTS 13.1.5, JIT) running Tests/Workloads/erlang/known_truth.erl, its module
/// `known_truth` read through /proc/PID/mem (22:19 UTC, 5 Dec 2026) as the walker reads it:
/// `func_tab[i]` .. `func_tab[i + 1]` of the module's `BeamCodeLineTab` (8-byte code addresses)
/// and the matching `loc_tab` entries (`loc_size` 4), `fname_ptr[0]` the Erlang string
/// "known_truth.erl" (its list cells' heads, small integers, shifted right by 4 as the walker does).
/// (scripts/beam-layouts/walk_beam.py reads the same tables.)
@Suite struct BEAMLinesTests {
    /// Values as the VM keeps them: little-endian, `T`'s size each.
    static func bytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: value.littleEndian, Array.init) }
    }

    /// known_truth:alpha/2 (ErtsCodeInfo 0x7fa445491b60, next function at 0x7fa445491c18):
    /// lines 65 (its first clause, the entry's label) and 66 (the second clause's body).
    static let alphaAddresses = bytes([0x7fa4_4549_1b5b, 0x7fa4_4549_1bbb] as [UInt64])
    static let alphaLocations = bytes([0x0100_0041, 0x0100_0042] as [UInt32])
    /// known_truth:measure/1 (ErtsCodeInfo 0x7fa445491838): lines 49-57.
    static let measureAddresses = bytes([0x7fa4_4549_1832, 0x7fa4_4549_18a6, 0x7fa4_4549_18c3, 0x7fa4_4549_18d0,
                                         0x7fa4_4549_18f0, 0x7fa4_4549_18ff, 0x7fa4_4549_191a, 0x7fa4_4549_1920,
                                         0x7fa4_4549_1935] as [UInt64])
    static let measureLocations = bytes((UInt32(0x31)...0x39).map { 0x0100_0000 | $0 })
    /// The small-integer terms of "known_truth.erl"'s list cells, as read.
    static let fileTerms: [UInt64] = [0x6bf, 0x6ef, 0x6ff, 0x77f, 0x6ef, 0x5ff, 0x74f, 0x72f, 0x75f, 0x74f, 0x68f, 0x2ef,
                                      0x65f, 0x72f, 0x6cf]
    static var fileName: [UInt8] { bytes(fileTerms.map { UInt32($0 >> 4) }) }

    static func lines(_ addresses: [UInt8], _ locations: [UInt8], flags: BEAMFunctionFlags = [], size: UInt32 = 4,
                      file: UInt32 = 1, name: [UInt8] = fileName) throws -> BEAMLines? {
        try BEAMLines(flags: flags, lineAddresses: addresses, locationSize: size, locations: locations, fileIndex: file,
                      fileName: name, module: "known_truth")
    }

    @Test func theLeafsLineIsTheLastEntryAtOrBeforeItsPC() throws {
        let alpha = try #require(try Self.lines(Self.alphaAddresses, Self.alphaLocations))
        #expect(alpha.file == "known_truth.erl")
        #expect(alpha.line(at: 0x7fa4_4549_1b60, caller: false) == 65)   // the function's first instruction
        #expect(alpha.line(at: 0x7fa4_4549_1bba, caller: false) == 65)
        #expect(alpha.line(at: 0x7fa4_4549_1bbb, caller: false) == 66)   // the body's first instruction
        #expect(alpha.line(at: 0x7fa4_4549_1c17, caller: false) == 66)   // its last byte
        #expect(alpha.line(at: 0x7fa4_4549_1b5a, caller: false) == nil)  // before the first entry
    }

    @Test func aCallersLineIsItsCallInstructions() throws {
        let measure = try #require(try Self.lines(Self.measureAddresses, Self.measureLocations))
        // A return address where line 51's code starts returns from the call on line 50.
        #expect(measure.line(at: 0x7fa4_4549_18c3, caller: true) == 50)
        #expect(measure.line(at: 0x7fa4_4549_18c3, caller: false) == 51)
        #expect(measure.line(at: 0x7fa4_4549_18c4, caller: true) == 51)
        #expect(measure.line(at: 0x7fa4_4549_1936, caller: true) == 57)
    }

    @Test func twoByteLocationsAndFileZero() throws {
        // error_handler:undefined_function/3 (ErtsCodeInfo 0x7fd654a95ab0, same VM build, a
        // kernel module: loc_size 2, every location file 0, lines 39 40 42 44 42).
        let addresses = Self.bytes([0x7fd6_54a9_5aae, 0x7fd6_54a9_5b1c, 0x7fd6_54a9_5b86, 0x7fd6_54a9_5c14,
                                    0x7fd6_54a9_5caf] as [UInt64])
        let locations = Self.bytes([39, 40, 42, 44, 42] as [UInt16])
        let function = try #require(try BEAMLines(flags: [], lineAddresses: addresses, locationSize: 2, locations: locations,
                                                  fileIndex: 0, fileName: [], module: "error_handler"))
        #expect(function.file == "error_handler.erl")
        #expect(function.line(at: 0x7fd6_54a9_5ab0, caller: false) == 39)
        #expect(function.line(at: 0x7fd6_54a9_5c14, caller: false) == 44)
        #expect(function.line(at: 0x7fd6_54a9_5cc7, caller: false) == 42)
    }

    @Test func entriesOfAnotherFileOrInvalidHaveNoLine() throws {
        var locations = Self.measureLocations
        locations[4 * 2 + 3] = 2      // line 51 from file 2, whose name the record lacks
        locations.replaceSubrange(4 * 3..<4 * 4, with: [0, 0, 0, 0])  // LINE_INVALID_LOCATION
        let measure = try #require(try Self.lines(Self.measureAddresses, locations))
        #expect(measure.line(at: 0x7fa4_4549_18c3, caller: false) == nil)
        #expect(measure.line(at: 0x7fa4_4549_18d0, caller: false) == nil)
        #expect(measure.line(at: 0x7fa4_4549_18f0, caller: false) == 53)
    }

    @Test func aTruncatedCopyKnowsNothingPastItsLastEntry() throws {
        let alpha = try #require(try Self.lines(Self.alphaAddresses, Self.alphaLocations, flags: .linesTruncated))
        #expect(alpha.line(at: 0x7fa4_4549_1bba, caller: false) == 65)
        #expect(alpha.line(at: 0x7fa4_4549_1bbb, caller: false) == nil)
    }

    @Test func recordsWithoutLines() throws {
        #expect(try Self.lines(Self.alphaAddresses, Self.alphaLocations, flags: .noLines) == nil)
        #expect(try Self.lines(Self.alphaAddresses, Self.alphaLocations, flags: .linesUnreadable) == nil)
        #expect(try Self.lines([], [], size: 0) == nil)
        // A file name the walker could not read: no file, so no lines.
        #expect(try Self.lines(Self.alphaAddresses, Self.alphaLocations, flags: .fileUnreadable) == nil)
    }

    @Test func hostileCopiesAreRefused() {
        #expect(throws: BEAMFunctionError.self) { try Self.lines(Self.alphaAddresses, Self.alphaLocations, size: 3) }
        #expect(throws: BEAMFunctionError.self) { try Self.lines(Self.alphaAddresses, Array(Self.alphaLocations.prefix(6))) }
        #expect(throws: BEAMFunctionError.self) { try Self.lines(Array(Self.alphaAddresses.prefix(12)), Self.alphaLocations) }
        let unsorted = Array(Self.alphaAddresses[8...] + Self.alphaAddresses[..<8])
        #expect(throws: BEAMFunctionError.self) { try Self.lines(unsorted, Self.alphaLocations) }
        #expect(throws: BEAMFunctionError.self) { try Self.lines(Self.alphaAddresses, Self.alphaLocations, file: 2) }
        #expect(throws: BEAMFunctionError.self) {
            try Self.lines(Self.alphaAddresses, Self.alphaLocations, name: [0x00, 0xD8, 0x00, 0x00])  // a surrogate
        }
    }
}
