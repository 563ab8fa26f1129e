import AggregatorCore
import ELF
import Foundation
import HotSpotSymbolization
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The publisher names a process's JVM to the sampler (control record 21) from its
/// mappings, with the statics' addresses in the process, unless `tracers` leaves the JVM
/// out. Uses the installed JDK 17's libjvm.so.
private let installedLibJVM = "/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so"

@Suite(.enabled(if: FileManager.default.fileExists(atPath: installedLibJVM)))
struct HotSpotPublisherTests {
    static let library = installedLibJVM
    /// Where the test maps the library: its text segment (file offset = ELF address 0x251000) at base + 0x251000.
    static let base: UInt64 = 0x7f00_0000_0000

    static func textMapping() throws -> Mapping {
        var status = stat()
        try #require(stat(library, &status) == 0)
        return Mapping(start: base + 0x251000, end: base + 0xfa4000, fileOffset: 0x251000, device: UInt64(status.st_dev),
                       inode: UInt64(status.st_ino), path: library)
    }

    func published(walksHotSpot: Bool) throws -> [HotSpotProcess] {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        publisher.walksHotSpot = walksHotSpot
        publisher.noteMappings(Mappings(pid: 4242, mappings: [try Self.textMapping()]))
        publisher.noteSample(pid: 4242)
        cache.waitForPendingCompiles()
        publisher.poll()
        return try writer.records().compactMap { if case .hotspotProcess(let process) = $0 { process } else { nil } }
    }

    @Test func theJVMIsNamedWithItsStatics() throws {
        let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: Self.library))), name: Self.library)
        guard case .runtime(let runtime) = try HotSpotRuntime.detect(in: elf) else {
            Issue.record("libjvm.so not detected")
            return
        }
        let mapping = try Self.textMapping()
        let expected = HotSpotProcess(pid: 4242, featureVersion: 17, codeCacheHeapsAddress: Self.base + runtime.codeCacheHeapsAddress,
                                      callStubReturnAddressAddress: Self.base + runtime.callStubReturnAddressAddress,
                                      device: mapping.device, inode: mapping.inode)
        let records = try published(walksHotSpot: true)
        #expect(!records.isEmpty)
        #expect(records.allSatisfy { $0 == expected }, "\(records)")
    }

    /// The JVM is named as its mappings arrive, from a read of libjvm.so's symbols, not once
    /// its 1.5 MB unwind table has compiled (seconds, more on a busy host): a JVM started
    /// before the sampler has Java frames within the sampler's first seconds.
    @Test func theJVMIsNamedBeforeItsTableCompiles() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        publisher.walksHotSpot = true
        publisher.noteMappings(Mappings(pid: 4242, mappings: [try Self.textMapping()]))
        publisher.noteSample(pid: 4242)
        let named = try writer.records().filter { if case .hotspotProcess = $0 { true } else { false } }
        let tables = try writer.records().filter { if case .unwindTable = $0 { true } else { false } }
        cache.waitForPendingCompiles()
        #expect(named.count == 1)
        #expect(tables.isEmpty, "the table was sent already: the test shows nothing")
    }

    @Test func tracersWithoutHotSpotNameNoJVM() throws {
        #expect(try published(walksHotSpot: false).isEmpty)
    }
}
