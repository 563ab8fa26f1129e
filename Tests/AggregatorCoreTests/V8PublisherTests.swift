import AggregatorCore
import Foundation
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The publisher names a Node process's V8 to the sampler (control record 23) from its
/// mappings, with the build's metadata symbol's address in the process, unless `tracers`
/// leaves V8 out. Uses the image's /usr/bin/node (Node 20, not PIE).
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/node")))
struct V8PublisherTests {
    static let node = "/usr/bin/node"

    static func metadataSymbol() throws -> UInt64 {
        let pipe = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nm")
        process.arguments = ["-D", "--defined-only", node]
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let line = try #require(output.split(separator: "\n").first { $0.hasSuffix(" v8dbg_off_fp_function") })
        return try #require(UInt64(line.split(separator: " ")[0], radix: 16))
    }

    /// Node's main text segment where the executable maps it (bias 0).
    static func textMapping() throws -> Mapping {
        var status = stat()
        try #require(stat(node, &status) == 0)
        return Mapping(start: 0xb72000, end: 0x25fe000, fileOffset: 0x772000, device: UInt64(status.st_dev),
                       inode: UInt64(status.st_ino), path: node)
    }

    func published(walksV8: Bool) throws -> [V8Process] {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        publisher.walksV8 = walksV8
        publisher.noteMappings(Mappings(pid: 4242, mappings: [try Self.textMapping()]))
        publisher.noteSample(pid: 4242)
        cache.waitForPendingCompiles()
        publisher.poll()
        return try writer.records().compactMap { if case .v8Process(let process) = $0 { process } else { nil } }
    }

    @Test func nodeIsNamedWithItsMetadataAddress() throws {
        let records = try published(walksV8: true)
        let mapping = try Self.textMapping()
        #expect(!records.isEmpty)
        for record in records {
            #expect(record.pid == 4242 && record.device == mapping.device && record.inode == mapping.inode)
            #expect(record.address == (try Self.metadataSymbol()))
            #expect(record.v8Version >> 24 == 11, "\(record)")
        }
    }

    @Test func tracersWithoutV8NameNoRuntime() throws {
        #expect(try published(walksV8: false).isEmpty)
    }
}
