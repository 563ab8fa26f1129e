import Foundation
import Testing
import ELF
@testable import Symbolization

/// The symbol tables `ELFReader.read(file:)` reads with `pread` in chunks (names
/// left in the file for large string tables) must be the tables read from the whole
/// file in memory (names copied): same symbols, same ranges, same names, same markers;
/// and their names must be those `nm` lists.
@Suite("Symbol tables read in chunks")
struct StreamedSymbolTableTests {
    /// A large Swift library (its .strtab stays in the file), Debian's libc (.dynsym
    /// only) and this test binary.
    static let files = [
        "/opt/swift/usr/lib/swift/linux/libswiftCore.so",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/proc/self/exe",
    ]

    @Test("same symbols, ranges and names from the file as from its image in memory", arguments: files)
    func fileMatchesImage(path: String) throws {
        guard case .success(let file) = OpenFile.open(path) else {
            Issue.record("cannot open \(path)")
            return
        }
        let streamed = try ELFReader.read(file: file)
        let image = try #require(file.readAll(limit: 1 << 30))
        let whole = try ELFReader.read(image: image)
        #expect(streamed.hasSymbolTable == whole.hasSymbolTable)
        #expect(streamed.hasRustMarkers == whole.hasRustMarkers)

        let chunked = SymbolTable(sets: streamed.symbolSets)
        let reference = SymbolTable(sets: whole.symbolSets)
        #expect(chunked.count == reference.count)
        #expect(chunked.count > 100)
        guard chunked.count == reference.count else { return }
        var mismatches = 0
        for index in 0..<chunked.count {
            let start = chunked.start(at: index)
            if start != reference.start(at: index) || chunked.rawName(at: index) != reference.rawName(at: index)
                || chunked.index(covering: start) != reference.index(covering: start)
                || chunked.index(covering: start &+ 1) != reference.index(covering: start &+ 1) {
                mismatches += 1
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(chunked.count) symbols differ")

        // An independent reader: every name must be one binutils' nm lists as defined.
        // (nm's /proc/self/exe is nm: the link is resolved here.)
        let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? path
        let listed = try nmNames(resolved, dynamic: false).union(try nmNames(resolved, dynamic: true))
        let unlisted = (0..<chunked.count).compactMap { chunked.rawName(at: $0) }.filter { !listed.contains($0) }
        let allListed = unlisted.isEmpty
        #expect(allListed, "\(unlisted.count) names nm does not list, e.g. \(unlisted.prefix(3))")
    }

    @Test("a large string table's names are read back from the file")
    func namesInFileOrMemory() throws {
        guard case .success(let file) = OpenFile.open("/opt/swift/usr/lib/swift/linux/libswiftCore.so") else {
            Issue.record("cannot open libswiftCore.so")
            return
        }
        let contents = try ELFReader.read(file: file)
        let largest = try #require(contents.symbolSets.max { $0.names.size < $1.names.size })
        #expect(largest.names.size > StreamedSymbolReader.inMemoryNamesLimit)
        let table = SymbolTable(sets: [largest])
        let index = try #require(table.index(covering: table.start(at: table.count / 2)))
        let name = try #require(table.rawName(at: index))
        #expect(!name.isEmpty && !name.contains("\0"))
    }
}

/// The names of the symbols `nm` lists as defined in `path` (`-D`: the dynamic ones),
/// without their version suffixes.
private func nmNames(_ path: String, dynamic: Bool) throws -> Set<String> {
    let lines = try nm((dynamic ? ["-D"] : []) + ["--defined-only", path])
    return Set(lines.compactMap { $0.split(separator: " ").last.map { String($0.prefix { $0 != "@" }) } })
}

/// `nm`'s address of each symbol of `path`.
private func nmAddresses(_ path: String) throws -> [String: UInt64] {
    var addresses: [String: UInt64] = [:]
    for line in try nm([path]) {
        let fields = line.split(separator: " ")
        if fields.count == 3, let address = UInt64(fields[0], radix: 16) { addresses[String(fields[2])] = address }
    }
    return addresses
}

/// The lines binutils' `nm` prints with `arguments` (its errors, e.g. "no symbols", dropped).
private func nm(_ arguments: [String]) throws -> [Substring] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/nm")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: "\n")
}

@Suite("32-bit files")
struct ELF32Tests {
    @Test("an i386 program's headers, build id and functions are read, at nm's addresses")
    func i386Program() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-elf32-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = directory + "/program.c", program = directory + "/program"
        try "int twice(int x) { return 2 * x; }\nint main(void) { return twice(21); }\n"
            .write(toFile: source, atomically: true, encoding: .utf8)
        // No 32-bit C library is needed: no start files, main is the entry point.
        let compile = Process()
        compile.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        compile.arguments = ["-m32", "-O1", "-nostdlib", "-fno-pic", "-no-pie", "-Wl,-e,main", "-Wl,--build-id", "-o", program, source]
        try compile.run()
        compile.waitUntilExit()
        try #require(compile.terminationStatus == 0, "cc -m32 failed")

        guard case .success(let file) = OpenFile.open(program) else {
            Issue.record("cannot open \(program)")
            return
        }
        let elf = try ELFFile(source: file)
        #expect(!elf.is64Bit && elf.machine == 3)  // EM_386
        #expect(elf.section(named: ".text")?.isExecutable == true)
        let contents = try ELFReader.read(file: file)
        #expect(contents.buildID?.count == 20)
        #expect(contents.hasSymbolTable)
        #expect(contents.segments.contains { $0.isExecutable })
        let table = SymbolTable(sets: contents.symbolSets)
        let named = Dictionary((0..<table.count).compactMap { index in table.rawName(at: index).map { ($0, table.start(at: index)) } },
                               uniquingKeysWith: { first, _ in first })
        let listed = try nmAddresses(program)
        #expect(named["twice"] != nil && named["twice"] == listed["twice"])
        #expect(named["main"] != nil && named["main"] == listed["main"])
    }
}
