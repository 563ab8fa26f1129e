import AggregatorCore
import Foundation
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The publisher names a process's PHP engine to the sampler (control record 29) from its
/// mappings, with `executor_globals`' address in the process, unless `tracers` leaves PHP
/// out. Uses Debian's /usr/bin/php8.2 (PIE: the mapping's bias moves the address).
@Suite(.enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/php8.2"), "needs php8.2-cli"))
struct PHPPublisherTests {
    static let php = "/usr/bin/php8.2"

    static func output(_ executable: String, _ arguments: [String]) throws -> String {
        let pipe = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return output
    }

    /// `executor_globals`' value in the engine's dynamic symbols, from binutils' `nm`.
    static func globalsSymbol() throws -> UInt64 {
        let output = try output("/usr/bin/nm", ["-D", "--defined-only", php])
        let line = try #require(output.split(separator: "\n").first { $0.hasSuffix(" executor_globals") })
        return try #require(UInt64(line.split(separator: " ")[0], radix: 16))
    }

    /// The executable LOAD segment's file offset (= its ELF address in php8.2), from readelf.
    static func textOffset() throws -> UInt64 {
        let output = try output("/usr/bin/readelf", ["-lW", php])
        let line = try #require(output.split(separator: "\n").first { $0.contains("LOAD") && $0.contains("R E") })
        return try #require(UInt64(line.split(separator: " ")[1].dropFirst(2), radix: 16))
    }

    static func textMapping() throws -> Mapping {
        var status = stat()
        try #require(stat(php, &status) == 0)
        let offset = try textOffset()
        return Mapping(start: 0x5600_0000_0000 + offset, end: 0x5600_0000_0000 + offset + 0x30_0000, fileOffset: offset,
                       device: UInt64(status.st_dev), inode: UInt64(status.st_ino), path: php)
    }

    func published(walksPHP: Bool) throws -> [PHPProcess] {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        publisher.walksPHP = walksPHP
        publisher.noteMappings(Mappings(pid: 4242, mappings: [try Self.textMapping()]))
        publisher.noteSample(pid: 4242)
        cache.waitForPendingCompiles()
        publisher.poll()
        return try writer.records().compactMap { if case .phpProcess(let process) = $0 { process } else { nil } }
    }

    @Test func theEngineIsNamedWithItsGlobalsAddress() throws {
        let records = try published(walksPHP: true)
        let mapping = try Self.textMapping()
        // PIE: the file's ELF addresses move by the load base (the text mapping's start less its address).
        let expected = PHPProcess(pid: 4242, phpVersion: 0x0802, executorGlobalsAddress: 0x5600_0000_0000 + (try Self.globalsSymbol()),
                                  device: mapping.device, inode: mapping.inode)
        #expect(!records.isEmpty)
        #expect(records.allSatisfy { $0 == expected }, "\(records)")
    }

    @Test func tracersWithoutPHPNameNoEngine() throws {
        #expect(try published(walksPHP: false).isEmpty)
    }
}
