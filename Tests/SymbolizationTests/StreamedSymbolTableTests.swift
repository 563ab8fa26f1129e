import Testing
@testable import Symbolization

/// The symbol tables `ELFReader.read(file:)` reads with `pread` in chunks (names
/// left in the file for large string tables) must be the tables libelf reads
/// whole: same symbols, same ranges, same names, same markers.
@Suite("Symbol tables read in chunks")
struct StreamedSymbolTableTests {
    /// A large Swift library (its .strtab stays in the file), Debian's libc (.dynsym
    /// only) and this test binary.
    static let files = [
        "/opt/swift/usr/lib/swift/linux/libswiftCore.so",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/proc/self/exe",
    ]

    @Test("same symbols, ranges and names as libelf's whole-section read", arguments: files)
    func matchesLibelf(path: String) throws {
        guard case .success(let file) = OpenFile.open(path) else {
            Issue.record("cannot open \(path)")
            return
        }
        let streamed = try ELFReader.read(file: file)
        let image = try #require(file.readAll(limit: 1 << 30))
        let whole = try ELFReader.read(image: image)
        #expect(streamed.symbols.isEmpty, "a 64-bit little-endian file's tables are all streamed")
        #expect(streamed.hasSymbolTable == whole.hasSymbolTable)
        #expect(streamed.hasRustMarkers == whole.hasRustMarkers)

        let chunked = SymbolTable(sets: streamed.allSymbolSets)
        let reference = SymbolTable(symbols: whole.symbols)
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
