import Foundation
import Profiles
import Testing
import WireFormat
@testable import Symbolization

/// Symbolizes `addresses` (leaf first) of a running fixture.
private func symbolize(_ symbolizer: Symbolizer, pid: Int32, _ addresses: [UInt64], stackID: UInt64 = 0) -> [Frame] {
    symbolizer.symbolize(Sample(time: 1, pid: pid, tid: pid, cpu: 0, userStackID: stackID,
                                kernelStack: [], userStack: addresses)).frames
}

@Suite("ELF symbolization of a running process")
struct ELFSymbolizationTests {
    @Test("PIE executable and shared library functions symbolize by name, with file offsets")
    func pieAndSharedLibrary() throws {
        let fixture = try CFixture()
        let process = try FixtureProcess(executable: fixture.executable)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        let mappings = try process.mappings()
        symbolizer.apply(.mappings(mappings))

        let exported = try process.address("tandem_fixture_exported")
        let local = try process.address("tandem_fixture_static")
        let library = try process.address("tandem_library_function")
        let main = try process.address("main")
        let frames = symbolize(symbolizer, pid: process.pid, [exported + 2, local + 4, library + 3, main + 1])
        #expect(frames.map(\.functionName) == ["tandem_fixture_exported", "tandem_fixture_static",
                                               "tandem_library_function", "main"])
        #expect(frames.map(\.type) == [.native, .native, .native, .native])
        #expect(frames[0].mappingPath == fixture.executable)
        #expect(frames[2].mappingPath == fixture.library)

        // The file offset is the address's offset in the mapped file.
        let libraryMapping = try #require(mappings.mappings.first { $0.start <= library && library < $0.end })
        #expect(frames[2].fileOffset == library + 3 - libraryMapping.start + libraryMapping.fileOffset)
        #expect(symbolizer.statistics.fileFailures == 0)
        #expect(symbolizer.statistics.filesBySymbolSource[.symbolTable] == 2)
    }

    @Test("Files only visible in the process's mount namespace are read through /proc/PID/root")
    func mountNamespace() throws {
        let fixture = try CFixture()
        // `hidden` is empty for us; inside the process's namespace the fixture is mounted there.
        let hidden = fixture.directory.file("hidden")
        let real = fixture.directory.file("real")
        try FileManager.default.createDirectory(atPath: hidden, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixture.executable, toPath: real + "/tandem-fixture")
        let script = "mount --bind '\(real)' '\(hidden)' && exec '\(hidden)/tandem-fixture'"
        let process = try FixtureProcess(executable: "/usr/bin/unshare",
                                         arguments: ["--mount", "--propagation", "private", "/bin/sh", "-c", script])
        defer { process.finish() }
        #expect(!FileManager.default.fileExists(atPath: hidden + "/tandem-fixture"))
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        symbolizer.apply(.mappings(try process.mappings()))
        let frame = symbolize(symbolizer, pid: process.pid, [try process.address("tandem_fixture_static")])[0]
        #expect(frame.functionName == "tandem_fixture_static")
        #expect(frame.mappingPath == hidden + "/tandem-fixture")
    }

    @Test("Return addresses are looked up one byte earlier: the call, not what follows it")
    func returnAddressSemantics() throws {
        let fixture = try CFixture()
        let sizes = try symbolSizes(fixture.executable)
        let process = try FixtureProcess(executable: fixture.executable)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        symbolizer.apply(.mappings(try process.mappings()))

        let exported = try process.address("tandem_fixture_exported")
        let size = try #require(sizes["tandem_fixture_exported"])
        // One past the function's last byte: as a return address it belongs to the
        // function (a call as its last instruction); as the leaf IP it does not.
        let end = exported + size
        let asReturnAddress = symbolize(symbolizer, pid: process.pid, [exported, end])[1]
        #expect(asReturnAddress.functionName == "tandem_fixture_exported")
        #expect(asReturnAddress.address == end)
        let asLeaf = symbolize(symbolizer, pid: process.pid, [end])[0]
        #expect(asLeaf.functionName != "tandem_fixture_exported")
    }

    @Test("Stacks are cached by (pid, stack id) and the cache is invalidated by new mappings and resets")
    func stackCache() throws {
        let fixture = try CFixture()
        let process = try FixtureProcess(executable: fixture.executable)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        let mappings = try process.mappings()
        symbolizer.apply(.mappings(mappings))
        let exported = try process.address("tandem_fixture_exported")

        let first = symbolize(symbolizer, pid: process.pid, [exported], stackID: 7)
        let second = symbolize(symbolizer, pid: process.pid, [exported], stackID: 7)
        #expect(first == second)
        #expect(symbolizer.statistics.stackCacheHits == 1)

        // After the process's mappings change, the same id is symbolized again.
        symbolizer.apply(.mappings(Mappings(pid: process.pid, mappings: [])))
        let unmapped = symbolize(symbolizer, pid: process.pid, [exported], stackID: 7)
        #expect(unmapped[0].functionName == nil)
        symbolizer.apply(.mappings(mappings))
        #expect(symbolize(symbolizer, pid: process.pid, [exported], stackID: 7) == first)
        // The file was loaded once: mappings that did not change keep their file.
        #expect(symbolizer.statistics.filesLoaded == 1)

        symbolizer.apply(.resetInterning)
        let misses = symbolizer.statistics.stackCacheMisses
        _ = symbolize(symbolizer, pid: process.pid, [exported], stackID: 7)
        #expect(symbolizer.statistics.stackCacheMisses == misses + 1)
    }

    @Test("A user stack under two kernel stacks: kernel frames first, then the user frames; each stack's frames counted once")
    func userStackUnderTwoKernelStacks() throws {
        let fixture = try CFixture()
        let process = try FixtureProcess(executable: fixture.executable)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.kernelSymbols(KernelSymbols(symbols: [
            KernelSymbol(address: 0xffff_ffff_8100_0000, type: UInt8(ascii: "T"), name: "entry_SYSCALL_64_after_hwframe"),
            KernelSymbol(address: 0xffff_ffff_8100_1000, type: UInt8(ascii: "T"), name: "do_syscall_64"),
        ])))
        symbolizer.apply(.process(try process.processInfo()))
        symbolizer.apply(.mappings(try process.mappings()))
        let exported = try process.address("tandem_fixture_exported")
        let main = try process.address("main")
        func sample(pid: Int32, kernelID: UInt64, kernel: [UInt64], user: [UInt64]) -> [Frame] {
            symbolizer.symbolize(Sample(time: 1, pid: pid, tid: pid, cpu: 0, kernelStackID: kernelID, userStackID: user.isEmpty ? 0 : 3,
                                        kernelStack: kernel, userStack: user)).frames
        }

        let first = sample(pid: process.pid, kernelID: 1, kernel: [0xffff_ffff_8100_1010], user: [exported + 2, main + 1])
        #expect(first.map(\.functionName) == ["do_syscall_64", "tandem_fixture_exported", "main"])
        #expect(first.map(\.type) == [.kernel, .native, .native])
        let second = sample(pid: process.pid, kernelID: 2, kernel: [0xffff_ffff_8100_0010, 0xffff_ffff_8100_1010],
                            user: [exported + 2, main + 1])
        #expect(second.map(\.functionName) == ["entry_SYSCALL_64_after_hwframe", "do_syscall_64",
                                                "tandem_fixture_exported", "main"])
        #expect(Array(second.suffix(2)) == Array(first.suffix(2)))
        // Kernel stack 1 (1 frame), user stack 3 (2 frames) and kernel stack 2 (2 frames): each counted once.
        #expect(symbolizer.statistics.framesResolved == 5)
        #expect(symbolizer.statistics.stackCacheMisses == 3)
        #expect(symbolizer.statistics.stackCacheHits == 1)

        // Kernel-only stacks do not depend on the process: another pid's sample of kernel stack 2 is a hit.
        let kernelOnly = sample(pid: process.pid, kernelID: 2, kernel: [0xffff_ffff_8100_0010, 0xffff_ffff_8100_1010], user: [])
        let otherProcess = sample(pid: 1, kernelID: 2, kernel: [0xffff_ffff_8100_0010, 0xffff_ffff_8100_1010], user: [])
        #expect(kernelOnly == otherProcess)
        #expect(kernelOnly == Array(second.prefix(2)))
        #expect(symbolizer.statistics.framesResolved == 5)
        #expect(symbolizer.statistics.stackCacheHits == 3)

        // A pair whose kernel stack was new is not cached whole; it comes again with the same
        // frames (named from the cached user part, then cached whole), each stack still counted once.
        for _ in 0..<2 {
            #expect(sample(pid: process.pid, kernelID: 1, kernel: [0xffff_ffff_8100_1010], user: [exported + 2, main + 1]) == first)
            #expect(sample(pid: process.pid, kernelID: 2, kernel: [0xffff_ffff_8100_0010, 0xffff_ffff_8100_1010],
                           user: [exported + 2, main + 1]) == second)
        }
        #expect(symbolizer.statistics.framesResolved == 5)
    }

    @Test("A stripped binary without debug information gives file+offset frames, never drops them")
    func strippedWithoutDebugInformation() throws {
        let fixture = try CFixture()
        try run(["strip", "--strip-all", fixture.executable])
        let process = try FixtureProcess(executable: fixture.executable)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        let mappings = try process.mappings()
        symbolizer.apply(.mappings(mappings))

        let local = try process.address("tandem_fixture_static")
        let frame = symbolize(symbolizer, pid: process.pid, [local])[0]
        let mapping = try #require(mappings.mappings.first { $0.start <= local && local < $0.end })
        #expect(frame.functionName == nil)
        #expect(frame.mappingPath == fixture.executable)
        #expect(frame.fileOffset == local - mapping.start + mapping.fileOffset)
        #expect(frame.displayName == "tandem-fixture+0x\(String(local - mapping.start + mapping.fileOffset, radix: 16))")
        // Exported functions are still named from .dynsym? Not in an executable: only when -rdynamic.
        #expect(symbolizer.statistics.filesBySymbolSource[.dynamicSymbols] == 1)
        #expect(symbolizer.statistics.framesUnresolved == 1)
    }

    @Test("A separate debug file is found by build id")
    func debugFileByBuildID() throws {
        let fixture = try CFixture()
        let buildID = try CFixture.buildID(fixture.executable)
        let debugRoot = fixture.directory.file("debug")
        let buildIDDirectory = "\(debugRoot)/.build-id/\(buildID.prefix(2))"
        try FileManager.default.createDirectory(atPath: buildIDDirectory, withIntermediateDirectories: true)
        try run(["objcopy", "--only-keep-debug", fixture.executable, "\(buildIDDirectory)/\(buildID.dropFirst(2)).debug"])
        try run(["strip", "--strip-all", fixture.executable])

        let process = try FixtureProcess(executable: fixture.executable)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: ["/nonexistent", debugRoot]), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        symbolizer.apply(.mappings(try process.mappings()))
        let frames = symbolize(symbolizer, pid: process.pid,
                               [try process.address("tandem_fixture_static"), try process.address("main") + 1])
        #expect(frames.map(\.functionName) == ["tandem_fixture_static", "main"])
        #expect(frames[0].mappingPath == fixture.executable)
        #expect(symbolizer.statistics.filesBySymbolSource[.debugFileByBuildID] == 1)
    }

    @Test("A separate debug file is found by .gnu_debuglink (in .debug/), and a wrong CRC is rejected")
    func debugFileByDebugLink() throws {
        let fixture = try CFixture()
        let debugFile = fixture.directory.file("tandem-fixture.debug")
        try run(["objcopy", "--only-keep-debug", fixture.executable, debugFile])
        try run(["strip", "--strip-all", "--remove-section=.note.gnu.build-id", fixture.executable])
        try run(["objcopy", "--add-gnu-debuglink=\(debugFile)", fixture.executable])
        try FileManager.default.createDirectory(atPath: fixture.directory.file(".debug"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: debugFile, toPath: fixture.directory.file(".debug/tandem-fixture.debug"))

        let process = try FixtureProcess(executable: fixture.executable)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        symbolizer.apply(.mappings(try process.mappings()))
        let frame = symbolize(symbolizer, pid: process.pid, [try process.address("tandem_fixture_static")])[0]
        #expect(frame.functionName == "tandem_fixture_static")
        #expect(symbolizer.statistics.filesBySymbolSource[.debugFileByDebugLink] == 1)

        // The same link to a file with different contents: its CRC does not match.
        let other = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        let handle = try #require(FileHandle(forWritingAtPath: fixture.directory.file(".debug/tandem-fixture.debug")))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0]))
        try handle.close()
        other.apply(.process(try process.processInfo()))
        other.apply(.mappings(try process.mappings()))
        let unnamed = symbolize(other, pid: process.pid, [try process.address("tandem_fixture_static")])[0]
        #expect(unnamed.functionName == nil)
        #expect(other.statistics.debugInfoWarnings == 1)
        #expect(other.statistics.filesBySymbolSource[.dynamicSymbols] == 1)
    }

    @Test("MiniDebugInfo (.gnu_debugdata, xz) names local functions of a stripped binary")
    func miniDebugInfo() throws {
        let fixture = try CFixture()
        let executable = fixture.executable
        let file = fixture.directory.file
        // As Fedora's find-debuginfo builds it: the function symbols not in .dynsym,
        // in a symbols-only ELF, xz-compressed into .gnu_debugdata of the stripped file.
        try run(["objcopy", "--only-keep-debug", executable, file("full.debug")])
        let dynamic = Set(try run(["nm", "-D", "--defined-only", "--format=posix", executable])
            .split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        let functions = try run(["nm", "--defined-only", "--format=posix", file("full.debug")]).split(separator: "\n")
            .compactMap { line -> String? in
                let fields = line.split(separator: " ")
                guard fields.count >= 2, fields[1] == "t" || fields[1] == "T" else { return nil }
                return String(fields[0])
            }
            .filter { !dynamic.contains($0) }
        try functions.joined(separator: "\n").write(toFile: file("keep"), atomically: true, encoding: .utf8)
        try run(["objcopy", "-S", "--remove-section", ".gdb_index", "--remove-section", ".comment",
                 "--keep-symbols=\(file("keep"))", file("full.debug"), file("mini")])
        try run(["xz", "-k", file("mini")])
        try run(["strip", "--strip-all", executable])
        try run(["objcopy", "--add-section", ".gnu_debugdata=\(file("mini.xz"))", executable])

        let process = try FixtureProcess(executable: executable)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        symbolizer.apply(.mappings(try process.mappings()))
        let frames = symbolize(symbolizer, pid: process.pid,
                               [try process.address("tandem_fixture_static") + 1, try process.address("main") + 1])
        #expect(frames.map(\.functionName) == ["tandem_fixture_static", "main"])
        #expect(symbolizer.statistics.filesBySymbolSource[.miniDebugInfo] == 1)
    }

    @Test("Corrupt or unreadable files give one counted, logged failure each and file+offset frames",
          arguments: ["truncated", "garbage", "missing"])
    func corruptFile(kind: String) throws {
        let fixture = try CFixture()
        let path = fixture.directory.file("corrupt.so")
        let original = try Data(contentsOf: URL(fileURLWithPath: fixture.library))
        switch kind {
        case "truncated": try original.prefix(200).write(to: URL(fileURLWithPath: path))
        case "garbage": try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }).write(to: URL(fileURLWithPath: path))
        default: break
        }
        var inode: UInt64 = 1  // a missing file still has the inode it was mapped with
        var device: UInt64 = 0
        if kind != "missing" {
            var status = stat()
            #expect(stat(path, &status) == 0)
            inode = UInt64(status.st_ino)
            device = UInt64(status.st_dev)
        }
        // A process (any pid without /proc access works the same) with the file mapped r-xp.
        let pid: Int32 = 0x3fff_fff0
        let mapping = Mapping(start: 0x7f00_0000_0000, end: 0x7f00_0000_4000, fileOffset: 0x1000,
                              device: device, inode: inode, path: path)
        let log = LogRecorder()
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: log.logger)
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: pid, parentPID: 1, startTime: 0, comm: "corrupt",
                                              executablePath: "/bin/corrupt", cgroupPath: "/")))
        symbolizer.apply(.mappings(Mappings(pid: pid, mappings: [mapping])))
        let frames = symbolize(symbolizer, pid: pid, [0x7f00_0000_0010, 0x7f00_0000_2000])
        _ = symbolize(symbolizer, pid: pid, [0x7f00_0000_0020], stackID: 3)
        #expect(frames.map(\.functionName) == [nil, nil])
        #expect(frames.map(\.mappingPath) == [path, path])
        #expect(frames.map(\.fileOffset) == [0x1010, 0x3000])
        #expect(frames[0].displayName == "corrupt.so+0x1010")
        #expect(symbolizer.statistics.fileFailures == 1)
        let failure = try #require(symbolizer.statistics.recentFileFailures.first)
        #expect(failure.path == path)
        #expect(!failure.reason.isEmpty)
        if kind == "missing" { #expect(failure.reason.contains("No such file")) }
        // Logged once, as a warning naming the file and the reason.
        let warnings = log.entries.filter { $0.level == .warning }
        #expect(warnings.count == 1)
        #expect(warnings.first?.metadata["file"]?.description == path)
        #expect(warnings.first?.metadata["reason"]?.description == failure.reason)
    }

    @Test("A file replaced since it was mapped (other inode) is not used")
    func replacedFile() throws {
        let fixture = try CFixture()
        let process = try FixtureProcess(executable: fixture.executable)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        let mappings = try process.mappings()
        symbolizer.apply(.mappings(Mappings(pid: process.pid, mappings: mappings.mappings.map {
            var mapping = $0
            if mapping.path == fixture.library { mapping.inode += 1 }
            return mapping
        })))
        let frame = symbolize(symbolizer, pid: process.pid, [try process.address("tandem_library_function")])[0]
        #expect(frame.functionName == nil)
        #expect(frame.mappingPath == fixture.library)
        #expect(symbolizer.statistics.recentFileFailures.first?.reason.contains("inode") == true)
    }

    @Test("Go binaries (.note.go.buildid) give .go frames")
    func goMarker() throws {
        let fixture = try CFixture()
        let note = fixture.directory.file("note")
        try Data(repeating: 0, count: 16).write(to: URL(fileURLWithPath: note))
        try run(["objcopy", "--add-section", ".note.go.buildid=\(note)", fixture.executable])
        let process = try FixtureProcess(executable: fixture.executable)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        symbolizer.apply(.mappings(try process.mappings()))
        let frames = symbolize(symbolizer, pid: process.pid,
                               [try process.address("tandem_fixture_exported"), try process.address("tandem_library_function")])
        #expect(frames.map(\.type) == [.go, .native])
        #expect(frames[0].functionName == "tandem_fixture_exported")
    }

    @Test("Go binaries: names from .symtab, or from .gopclntab when stripped; frames typed .go",
          arguments: [false, true])
    func goBinary(stripped: Bool) throws {
        let directory = try TemporaryDirectory()
        let binary = directory.file("go_fixture")
        let source = directory.file("main.go")
        try FileManager.default.copyItem(atPath: Fixtures.source("go_fixture.go"), toPath: source)
        try run(["go", "build", "-o", binary] + (stripped ? ["-ldflags=-s -w"] : []) + [source],
                environment: ["GOCACHE": directory.file("cache"), "GOPATH": directory.file("gopath"), "GO111MODULE": "off",
                              "CGO_ENABLED": "0"])
        let process = try FixtureProcess(executable: binary)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        symbolizer.apply(.mappings(try process.mappings()))
        let frames = symbolize(symbolizer, pid: process.pid, [
            try process.address("main.Spin") + 1, try process.address("main.(*Worker).Run") + 1,
            try process.address("fmt.Printf") + 1, try process.address("main.main") + 1,
        ])
        #expect(frames.map(\.functionName) == ["main.Spin", "main.(*Worker).Run", "fmt.Printf", "main.main"])
        #expect(frames.allSatisfy { $0.type == .go })
        #expect(symbolizer.statistics.filesBySymbolSource[stripped ? .goPCLNTab : .symbolTable] == 1)
    }

    @Test("vDSO frames are named from the aggregator's own vDSO")
    func vdso() throws {
        let fixture = try CFixture()
        let process = try FixtureProcess(executable: fixture.executable)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        let mappings = try process.mappings()
        symbolizer.apply(.mappings(mappings))
        let vdso = try #require(mappings.mappings.first { $0.path == "[vdso]" })
        // The vDSO's exported functions, from its own dynamic symbols.
        let image = try #require(try? symbolizerVDSOSymbols())
        let (name, offset) = try #require(image.first { $0.name.contains("clock_gettime") })
        let frame = symbolize(symbolizer, pid: process.pid, [vdso.start + offset])[0]
        #expect(frame.functionName?.hasSuffix("clock_gettime") == true, "\(name)")
        #expect(frame.mappingPath == "[vdso]")
    }
}

/// `(name, offset)` of the vDSO's functions, read through `/proc/self/mem`-free means:
/// the test process's own vDSO is the same image as the fixture's.
private func symbolizerVDSOSymbols() throws -> [(name: String, offset: UInt64)] {
    let maps = try readProcFile("/proc/self/maps")
    guard let line = maps.split(separator: "\n").first(where: { $0.hasSuffix("[vdso]") }) else { return [] }
    let range = line.prefix { $0 != " " }.split(separator: "-").compactMap { UInt64($0, radix: 16) }
    guard range.count == 2, let pointer = UnsafeRawPointer(bitPattern: UInt(range[0])) else { return [] }
    let image = Array(UnsafeRawBufferPointer(start: pointer, count: Int(range[1] - range[0])))
    let contents = try ELFReader.read(image: image)
    let vaddrBase = contents.segments.first?.virtualAddress ?? 0
    let table = SymbolTable(sets: contents.symbolSets)
    return (0..<table.count).compactMap { index in table.rawName(at: index).map { ($0, table.start(at: index) - vaddrBase) } }
}
