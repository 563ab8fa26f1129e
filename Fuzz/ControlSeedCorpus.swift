// Writes valid control streams to seed the control-decoder fuzzer (scripts/fuzz-decoder.sh):
//   control-seed-corpus DIR
// Each file is one control stream; together they contain every control record type,
// an unknown one, the largest table id, negative biases and mappings up to the top of
// the address space.

#if canImport(Glibc)
import Glibc
#endif

func controlStream(_ records: [ControlRecord]) -> [UInt8] {
    var encoder = ControlEncoder()
    return records.flatMap { encoder.encode($0) }
}

@main
struct ControlSeedCorpus {
    static func main() {
        guard CommandLine.arguments.count == 2 else {
            print("usage: control-seed-corpus DIR")
            exit(2)
        }
        let directory = CommandLine.arguments[1]
        mkdir(directory, 0o755)
        let table = UnwindTableRecord(tableID: 1, device: 0x803, inode: 1234, table: (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        let mappings = UnwindMappings(pid: 4321, entries: [
            UnwindMapping(start: 0x5555_0000_1000, end: 0x5555_0002_0000, tableID: 1, bias: 0xFFFF_AAAB_0000_0000,
                          device: 0x803, inode: 1234),
            UnwindMapping(start: 0x7F00_0000_0000, end: 0x7F00_0020_0000, tableID: UInt32.max, bias: 0x1000,
                          device: 0x803, inode: 7),
            UnwindMapping(start: 0xFFFF_FFFF_FFFF_0000, end: 0xFFFF_FFFF_FFFF_FFFF, tableID: 2, bias: 0,
                          device: 1, inode: 1),
        ])
        let request = FileRequest(pid: 4321, start: 0x5555_0000_1000, end: 0x5555_0002_0000, device: 0x803, inode: 1234)
        let seeds: [[UInt8]] = [
            controlStream([]),
            controlStream([.unwindTable(table)]),
            controlStream([.unwindMappings(mappings)]),
            controlStream([.releaseUnwindTable(tableID: 1), .releaseUnwindTable(tableID: UInt32.max)]),
            controlStream([.fileRequest(request)]),
            controlStream([.unknown(type: 99, length: 5), .fileRequest(request)]),
            controlStream([.unwindTable(table), .unwindMappings(mappings), .fileRequest(request),
                           .unwindMappings(UnwindMappings(pid: 4321, entries: [])), .releaseUnwindTable(tableID: 1)]),
        ]
        // The header alone: magic and version.
        writeSeed(ControlStream.magic + [UInt8(ControlStream.currentVersion)], to: "\(directory)/control-header")
        for (index, seed) in seeds.enumerated() {
            writeSeed(seed, to: "\(directory)/control-\(index)")
            // A prefix of each stream, cut inside a record.
            writeSeed(Array(seed.prefix(seed.count * 2 / 3)), to: "\(directory)/control-\(index)-cut")
        }
        print("wrote \(seeds.count * 2 + 1) control seeds to \(directory)")
    }
}
