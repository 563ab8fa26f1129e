import InterpreterLoading
import CTandemBPF
import RubyLayouts
import RubyLoading
import Testing
import WireFormat

/// What the sampler accepts of the aggregator's Ruby process records (control record 27): only
/// a version it has a layout for, a file the process maps executable, a module-id word inside a
/// non-executable mapping of that file, and a bounded TLS offset (docs/security.md).
@Suite struct RubyLoaderTests {
    final class RecordingStorage: RubyMapStorage {
        var processes: [Int32: tandem_ruby_process] = [:]
        var generations: [UInt64] = []
        var forgotten: [UInt64] = []
        func writeProcess(pid: Int32, _ process: tandem_ruby_process) -> Bool {
            processes[pid] = process
            return true
        }
        func removeProcess(pid: Int32) { processes[pid] = nil }
        func writeStreamGeneration(_ generation: UInt64) { generations.append(generation) }
        func forgetISeq(pid: Int32, iseq: UInt64, fingerprint: UInt32) { forgotten.append(iseq) }
    }

    static let device: UInt64 = 0x803
    static let inode: UInt64 = 99
    static let text = [Mapping(start: 0x7f00_0000_0000, end: 0x7f00_0020_0000, fileOffset: 0, device: device, inode: inode,
                               path: "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1")]
    /// libruby's RELRO (read-only after relocation) and data, as PROCMAP_QUERY describes them.
    static let relro = DataMapping(start: 0x7f00_003a_0000, end: 0x7f00_003b_0000, device: device, inode: inode,
                                          isWritable: false, isExecutable: false)
    static let record = RubyProcess(pid: 7, rubyVersion: 0x0301, moduleSlotAddress: 0x7f00_003a_ea48, tlsOffset: 8,
                                    device: device, inode: inode)

    func apply(_ record: RubyProcess = record, text: [Mapping]? = text, data: DataMapping? = relro,
               storage: RecordingStorage = RecordingStorage()) -> (RubyLoader, RecordingStorage) {
        let loader = RubyLoader(storage: storage)
        loader.apply(record, executableMappings: text) { _, _ in data }
        return (loader, storage)
    }

    @Test func aCheckedRecordIsLoadedWithTheSamplersOwnLayoutIndex() {
        let (loader, storage) = apply()
        #expect(loader.counters.processesLoaded == 1)
        #expect(storage.processes[7]?.tls_module_slot == 0x7f00_003a_ea48)
        #expect(storage.processes[7]?.tls_offset == 8)
        #expect(storage.processes[7]?.layout == UInt32(RubyLayout.index(of: RubyVersion(major: 3, minor: 1))!))
    }

    @Test("refused, with a reason", arguments: [
        ("a version without a layout", RubyProcess(pid: 7, rubyVersion: 0x0207, moduleSlotAddress: 0x7f00_003a_ea48, tlsOffset: 8, device: device, inode: inode)),
        ("another file", RubyProcess(pid: 7, rubyVersion: 0x0301, moduleSlotAddress: 0x7f00_003a_ea48, tlsOffset: 8, device: device, inode: 5)),
        ("a TLS offset past the bound", RubyProcess(pid: 7, rubyVersion: 0x0301, moduleSlotAddress: 0x7f00_003a_ea48, tlsOffset: 1 << 20, device: device, inode: inode)),
        ("an unaligned TLS offset", RubyProcess(pid: 7, rubyVersion: 0x0301, moduleSlotAddress: 0x7f00_003a_ea48, tlsOffset: 3, device: device, inode: inode)),
        ("a word past the mapping's end", RubyProcess(pid: 7, rubyVersion: 0x0301, moduleSlotAddress: 0x7f00_003a_fffc, tlsOffset: 8, device: device, inode: inode)),
        ("an address that wraps", RubyProcess(pid: 7, rubyVersion: 0x0301, moduleSlotAddress: .max - 3, tlsOffset: 8, device: device, inode: inode)),
    ])
    func refused(_ what: String, _ record: RubyProcess) {
        let inData = record.moduleSlotAddress >= Self.relro.start && record.moduleSlotAddress < Self.relro.end
        let (loader, storage) = apply(record, data: inData ? Self.relro : nil)
        #expect(storage.processes.isEmpty, "\(what)")
        #expect(loader.counters.processesRejected == 1)
        #expect(loader.lastRejection?.hasPrefix("pid 7: ") == true, "\(loader.lastRejection ?? "")")
    }

    /// libruby's .data, where ruby_global_symbols is (Debian's 3.1.2: 0x3af1c0 from the load bias).
    static let writableData = DataMapping(start: 0x7f00_003b_0000, end: 0x7f00_003b_2000, device: device, inode: inode,
                                          isWritable: true, isExecutable: false)

    /// Each address to the mapping the kernel would say holds it.
    func applyWithSymbols(_ symbols: UInt64, data: DataMapping) -> (RubyLoader, RecordingStorage) {
        var record = Self.record
        record.globalSymbolsAddress = symbols
        let storage = RecordingStorage()
        let loader = RubyLoader(storage: storage)
        loader.apply(record, executableMappings: Self.text) { _, address in
            address >= Self.relro.start && address < Self.relro.end ? Self.relro : data
        }
        return (loader, storage)
    }

    @Test func aSymbolTableInTheFilesWritableDataIsWalked() {
        let (_, storage) = applyWithSymbols(0x7f00_003b_01c0, data: Self.writableData)
        #expect(storage.processes[7]?.global_symbols == 0x7f00_003b_01c0)
        // None sent: loaded, C methods left out.
        #expect(apply().1.processes[7]?.global_symbols == 0)
    }

    @Test("a symbol table address refused, with a reason", arguments: [
        ("read-only data", 0x7f00_003b_01c0, DataMapping(start: 0x7f00_003b_0000, end: 0x7f00_003b_2000, device: device, inode: inode, isWritable: false, isExecutable: false)),
        ("code", 0x7f00_003b_01c0, DataMapping(start: 0x7f00_003b_0000, end: 0x7f00_003b_2000, device: device, inode: inode, isWritable: true, isExecutable: true)),
        ("another file's data", 0x7f00_003b_01c0, DataMapping(start: 0x7f00_003b_0000, end: 0x7f00_003b_2000, device: device, inode: 5, isWritable: true, isExecutable: false)),
        ("bytes past the mapping's end", 0x7f00_003b_1ff0, writableData),
        ("an unaligned address", 0x7f00_003b_01c4, writableData),
    ] as [(String, UInt64, DataMapping)])
    func symbolTableRefused(_ what: String, _ symbols: UInt64, _ data: DataMapping) {
        let (loader, storage) = applyWithSymbols(symbols, data: data)
        #expect(storage.processes.isEmpty, "\(what)")
        #expect(loader.lastRejection?.contains("symbol table") == true, "\(loader.lastRejection ?? "")")
    }

    @Test func anUnknownProcessACodeMappingOrAnotherFilesDataIsRefused() {
        #expect(apply(text: nil).1.processes.isEmpty)
        let code = DataMapping(start: Self.relro.start, end: Self.relro.end, device: Self.device, inode: Self.inode,
                                      isWritable: false, isExecutable: true)
        #expect(apply(data: code).1.processes.isEmpty)
        let other = DataMapping(start: Self.relro.start, end: Self.relro.end, device: Self.device, inode: 1,
                                       isWritable: true, isExecutable: false)
        #expect(apply(data: other).1.processes.isEmpty)
    }

    @Test func offRefusesEverythingAndStreamsStartOver() {
        let off = RubyLoader(storage: nil)
        off.apply(Self.record, executableMappings: Self.text) { _, _ in Self.relro }
        #expect(off.counters.processesRejected == 1 && off.lastRejection?.contains("--no-interpreter-frames") == true)
        let (loader, storage) = apply()
        loader.beginStream()
        #expect(storage.processes.isEmpty && storage.generations == [1])
    }

    @Test func theLayoutStructMatchesTheTable() {
        let layout = RubyLayout.supported[0]
        let c = tandem_ruby_layout(layout)
        #expect(c.version == 0x0301 && c.control_frame_size == layout.controlFrameSize && c.type_array == layout.typeArray)
        #expect(c.body_bytes <= UInt16(TANDEM_RUBY_BODY_BYTES))
    }
}
