import Foundation
import Profiles
import Testing
import WireFormat
@testable import Symbolization
#if canImport(Glibc)
import Glibc
#endif

/// `FrameNames`: a frame's names in one shared, immutable instance per symbol.
@Suite("Shared frame names")
struct SharedFrameNamesTests {
    @Test("A frame is a value: setting a name gives it its own names; equality and hashing are by the names' text")
    func valueSemantics() {
        var frame = Frame(type: .native, address: 0x10, functionName: "f", mappingPath: "/bin/app", fileOffset: 4)
        let copy = frame
        frame.functionName = "g"
        #expect(copy.functionName == "f")
        #expect(frame.functionName == "g")
        #expect(frame.mappingPath == "/bin/app")
        #expect(copy.names !== frame.names)

        // Two instances with the same text are equal frames, with equal hashes.
        let shared = FrameNames(functionName: "f", mappingPath: "/bin/app", sourceFile: nil)
        let other = Frame(type: .native, address: 0x10, names: shared, fileOffset: 4)
        #expect(other == copy)
        #expect(other.hashValue == copy.hashValue)
        #expect(other != Frame(type: .native, address: 0x10, names: shared, fileOffset: 5))
        var withFile = other
        withFile.sourceFile = "/src/f.c"
        #expect(withFile != other)
        #expect(shared.sourceFile == nil)

        // A frame without names allocates none.
        #expect(Frame(type: .kernel, address: 1).names === FrameNames.none)
        #expect(FrameNames.of(functionName: nil, mappingPath: nil, sourceFile: nil) === FrameNames.none)
    }

    @Test("Kernel frames of one symbol share its names; a reset of the kernel symbols lets them go")
    func kernelSymbolsShareNames() {
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.kernelSymbols(KernelSymbols(symbols: [
            KernelSymbol(address: 0xffff_ffff_8100_1000, type: UInt8(ascii: "T"), name: "do_syscall_64_with_a_long_name"),
            KernelSymbol(address: 0xffff_ffff_8100_2000, type: UInt8(ascii: "T"), name: "entry_SYSCALL_64"),
        ])))
        weak var released: FrameNames?
        do {
            let first = symbolizer.symbolize(Sample(time: 1, pid: 0, tid: 0, cpu: 0, kernelStackID: 1,
                                                    kernelStack: [0xffff_ffff_8100_1010, 0xffff_ffff_8100_2010],
                                                    userStack: [])).frames
            let second = symbolizer.symbolize(Sample(time: 2, pid: 0, tid: 0, cpu: 0, kernelStackID: 2,
                                                     kernelStack: [0xffff_ffff_8100_1020], userStack: [])).frames
            #expect(first.map(\.functionName) == ["do_syscall_64_with_a_long_name", "entry_SYSCALL_64"])
            // Other addresses, other stacks: the same instance.
            #expect(first[0].names === second[0].names)
            #expect(first[0].address != second[0].address)
            released = first[0].names
        }
        #expect(released != nil)
        // When the stream's state goes, the kernel symbols' names go with it.
        symbolizer.removeAll()
        #expect(released == nil)
    }

    @Test("Frames of one ELF symbol share its names across processes mapping the file; the file is not read again")
    func elfSymbolsShareNamesAcrossProcesses() throws {
        let fixture = try CFixture()
        let one = try FixtureProcess(executable: fixture.executable)
        defer { one.finish() }
        let two = try FixtureProcess(executable: fixture.executable)
        defer { two.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        weak var released: FrameNames?
        do {
            var stacks: [[Frame]] = []
            for process in [one, two] {
                symbolizer.apply(.process(try process.processInfo()))
                symbolizer.apply(.mappings(try process.mappings()))
                let addresses = [try process.address("tandem_fixture_exported") + 2, try process.address("tandem_library_function") + 3]
                stacks.append(symbolizer.symbolize(Sample(time: 1, pid: process.pid, tid: process.pid, cpu: 0, userStackID: 1,
                                                          kernelStack: [], userStack: addresses)).frames)
            }
            #expect(stacks[0].map(\.functionName) == ["tandem_fixture_exported", "tandem_library_function"])
            #expect(stacks[1].map(\.functionName) == stacks[0].map(\.functionName))
            for position in 0..<2 { #expect(stacks[0][position].names === stacks[1][position].names) }
            released = stacks[0][0].names
        }
        // Both files were read once; the second process's mappings found them by their stamp.
        #expect(symbolizer.statistics.filesLoaded == 2)
        #expect(symbolizer.statistics.fileCacheHits == 2)
        #expect(released != nil)
        // The names live with the file's symbols: when the stream's state goes, they go.
        symbolizer.removeAll()
        #expect(released == nil)
    }

    @Test("A file stamp is the same for an unchanged file, other once it is rewritten, and taken without opening a FIFO")
    func fileStamp() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("data")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        let before = try #require(FileStamp.of(path: path))
        #expect(FileStamp.of(path: path) == before)
        guard case .success(let opened) = OpenFile.open(path) else {
            Issue.record("cannot open \(path)")
            return
        }
        #expect(opened.stamp == before)
        // Rewritten in place (same inode, same size): other times.
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        #expect(FileStamp.of(path: path) != before)
        #expect(FileStamp.of(path: directory.file("missing")) == nil)
        let fifo = directory.file("fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(FileStamp.of(path: fifo) != nil)
    }
}
