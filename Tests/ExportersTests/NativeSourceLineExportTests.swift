import OTLPProfilesProto
import Profiles
import Testing

@testable import Exporters

@Suite("OTLP profiles: native and Go frames with source lines")
struct NativeSourceLineExportTests {
    @Test("a native frame's line carries its function, the function its source file; mapping and address stay the file's")
    func nativeFileAndLine() throws {
        let start: UInt64 = 1_700_000_000_000_000_000
        let leaf = Frame(type: .native, address: 0x5555_0000_1010, functionName: "compress_block", mappingPath: "/usr/bin/zipper",
                         fileOffset: 0x1010, sourceFile: "/src/zipper/block.c", sourceLine: 120)
        let caller = Frame(type: .go, address: 0x40_2000, functionName: "main.run", mappingPath: "/usr/bin/gotool",
                           fileOffset: 0x2000, sourceFile: "/src/gotool/main.go", sourceLine: 33)
        let batch = ProfilesBatch(
            hostName: "lines-host", samplesPerSecond: 19, startUnixNano: start, endUnixNano: start + 1_000_000,
            samples: [SymbolizedSample(timestamps: [start], process: ProcessIdentity(pid: 7, comm: "zipper"), threadID: 7,
                                       cpu: 0, frames: [leaf, caller])])
        let dictionary = OTLPProfiles.request(for: batch, scopeVersion: "test").dictionary
        let strings = dictionary.stringTable
        for (frame, file) in [(leaf, "/src/zipper/block.c"), (caller, "/src/gotool/main.go")] {
            let location = try #require(dictionary.locationTable.first {
                $0.lines.first.map { strings[Int(dictionary.functionTable[Int($0.functionIndex)].nameStrindex)] } == frame.functionName
            })
            #expect(location.address == frame.fileOffset)
            #expect(location.mappingIndex != 0)
            #expect(strings[Int(dictionary.mappingTable[Int(location.mappingIndex)].filenameStrindex)] == frame.mappingPath)
            #expect(location.lines.map(\.line) == [Int64(frame.sourceLine)])
            let function = dictionary.functionTable[Int(location.lines[0].functionIndex)]
            #expect(strings[Int(function.filenameStrindex)] == file)
        }
        // Labels of machine code stay the function alone.
        #expect(leaf.locationLabel == "compress_block")
        #expect(caller.functionLabel == "main.run")
    }
}
