import AggregatorCore
import Foundation
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The publisher names a process's Ruby VM to the sampler (control record 27) from its
/// mappings, with the module-id GOT word at its process address, unless `tracers` leaves Ruby
/// out. Uses Debian's libruby-3.1 (scripts/install-deps.sh installs ruby); skipped without it.
@Suite struct RubyPublisherTests {
    static let library = "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1.2"
    /// Where the test maps libruby: its text segment (file offset and address 0x33000) at this base.
    static let base: UInt64 = 0x7f12_3400_0000

    static func textMapping() throws -> Mapping {
        var status = stat()
        try #require(stat(library, &status) == 0)
        return Mapping(start: base + 0x33000, end: base + 0x28d000, fileOffset: 0x33000, device: UInt64(status.st_dev),
                       inode: UInt64(status.st_ino), path: library)
    }

    func published(walksRuby: Bool) throws -> [RubyProcess] {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        publisher.walksRuby = walksRuby
        publisher.noteMappings(Mappings(pid: 4243, mappings: [try Self.textMapping()]))
        publisher.noteSample(pid: 4243)
        cache.waitForPendingCompiles()
        publisher.poll()
        return try writer.records().compactMap { if case .rubyProcess(let process) = $0 { process } else { nil } }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: library)))
    func theVMIsNamedWithItsModuleSlot() throws {
        let records = try published(walksRuby: true)
        let mapping = try Self.textMapping()
        // readelf -rW: the R_X86_64_DTPMOD64 of ruby_current_ec is at 0x3aea48; its TLS offset is 8;
        // ruby_global_symbols (rb_sym_immortal_count's load) at 0x3af1c0, moved by the same bias.
        let expected = RubyProcess(pid: 4243, rubyVersion: 0x0301, moduleSlotAddress: Self.base + 0x3aea48, tlsOffset: 8,
                                   device: mapping.device, inode: mapping.inode, globalSymbolsAddress: Self.base + 0x3af1c0)
        #expect(!records.isEmpty)
        #expect(records.allSatisfy { $0 == expected }, "\(records)")
    }

    /// The VM is named as its mappings arrive (libruby's name says what it is), not once
    /// libruby's unwind table has compiled: a Ruby process's first samples have Ruby frames.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: library)))
    func theVMIsNamedBeforeItsTableCompiles() throws {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        publisher.walksRuby = true
        publisher.noteMappings(Mappings(pid: 4243, mappings: [try Self.textMapping()]))
        publisher.noteSample(pid: 4243)
        let records = try writer.records()
        cache.waitForPendingCompiles()
        #expect(records.filter { if case .rubyProcess = $0 { true } else { false } }.count == 1)
        #expect(!records.contains { if case .unwindTable = $0 { true } else { false } }, "the table was sent already: the test shows nothing")
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: library)))
    func tracersWithoutRubyNameNoVM() throws {
        #expect(try published(walksRuby: false).isEmpty)
    }
}
