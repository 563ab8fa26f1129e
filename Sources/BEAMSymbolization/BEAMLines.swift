import ELF

/// An Erlang function's lines, from its slice of the module's line table (`BeamCodeLineTab`,
/// beam_code.h) as the walker copied it into the function record (docs/beam.md): the code
/// address where each line starts, sorted, and that line's location (`file << 24 | line`). A
/// frame's line is the location of the last entry at or before its pc (the leaf's pc, or a
/// caller's return address − 1, which lies in its call instruction).
public struct BEAMLines: Hashable, Sendable {
    /// The function's file: its module's name with `.erl` for file 0 (as ERTS names it), else
    /// the file name the module's line table keeps (`fname_ptr[file - 1]`).
    public var file: String
    /// Line entries, sorted by address: the line, 0 where the location is invalid or in
    /// another file than `file` (its name was not copied).
    public private(set) var entries: [Entry]
    /// The function has more entries than the walker copies: a pc past the last copied one has
    /// no known line.
    public var truncated: Bool

    public struct Entry: Hashable, Sendable {
        public var address: UInt64
        public var line: UInt32
    }

    /// The line of `pc` in this function: `caller` for a continuation pointer (a return
    /// address). Nil when the pc lies before the first entry, on an entry without a line, or
    /// past the copied entries of a truncated copy.
    public func line(at pc: UInt64, caller: Bool) -> UInt32? {
        let address = caller ? pc &- 1 : pc
        // The first entry above `address`: the one before it holds the pc.
        var low = 0, high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].address <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0, !(truncated && low == entries.count) else { return nil }
        let line = entries[low - 1].line
        return line == 0 ? nil : line
    }

    /// Bytes the aggregator keeps for it (the function table's bound).
    public var size: Int { 32 + file.utf8.count + entries.count * MemoryLayout<Entry>.stride }
}

/// `BeamCodeLineTab` facts (beam_code.h): a location packs the file into its top 8 bits and
/// the line into the low 24; 0 is `LINE_INVALID_LOCATION`.
extension BEAMLines {
    static let fileShift: UInt32 = 24
    static let lineMask: UInt32 = (1 << 24) - 1
    /// The walker's bound on the entries it copies (bpf/tandem_beam.h `TANDEM_BEAM_MAX_LINES`).
    public static let maximumEntries = 4096

    /// Parses the walker's copies (untrusted): `lineAddresses` 8 bytes an entry, `locations`
    /// `locationSize` (2 or 4) bytes an entry, little-endian as the VM keeps them; `fileName`
    /// the code points of file `fileIndex`'s name, 4 bytes each; `module` the function's module
    /// (file 0's name is it with `.erl`). Nil when the record carries no lines (a module
    /// without a line table, a function without entries, a table the walker could not read).
    public init?(flags: BEAMFunctionFlags, lineAddresses: [UInt8], locationSize: UInt32, locations: [UInt8],
                 fileIndex: UInt32, fileName: [UInt8], module: String) throws(BEAMFunctionError) {
        if flags.contains(.noLines) || flags.contains(.linesUnreadable) || lineAddresses.isEmpty { return nil }
        guard locationSize == 2 || locationSize == 4 else { throw .linesMalformed("location size \(locationSize)") }
        let count = lineAddresses.count / 8
        guard lineAddresses.count % 8 == 0, count <= Self.maximumEntries, locations.count == count * Int(locationSize) else {
            throw .linesMalformed("\(lineAddresses.count) address bytes for \(locations.count) location bytes of \(locationSize)")
        }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        for index in 0..<count {
            // Sizes checked above.
            let address = lineAddresses.littleEndian64(at: index * 8)
            let location = locationSize == 2 ? UInt32(locations.littleEndian16(at: index * 2))
                : locations.littleEndian32(at: index * 4)
            if let previous = entries.last, previous.address > address {
                throw .linesMalformed("line addresses not sorted")
            }
            if index == 0, location >> Self.fileShift != fileIndex {
                throw .linesMalformed("file \(fileIndex) is not the first location's (\(location >> Self.fileShift))")
            }
            let inFile = location >> Self.fileShift == fileIndex
            entries.append(Entry(address: address, line: inFile ? location & Self.lineMask : 0))
        }
        if fileIndex == 0 {
            file = module + ".erl"
        } else {
            guard !flags.contains(.fileUnreadable), !fileName.isEmpty, fileName.count % 4 == 0 else { return nil }
            var scalars = String.UnicodeScalarView()
            for offset in stride(from: 0, to: fileName.count, by: 4) {
                guard let scalar = Unicode.Scalar(fileName.littleEndian32(at: offset)) else {
                    throw .linesMalformed("a file name character is no Unicode scalar")
                }
                scalars.append(scalar)
            }
            file = String(scalars)
        }
        self.entries = entries
        truncated = flags.contains(.linesTruncated)
    }
}
