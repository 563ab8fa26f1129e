import BEAMLayouts
import BEAMLoading
import CTandemBPF
import InterpreterLoading
import Testing
import WireFormat

/// What the sampler accepts of the aggregator's BEAM process records (control record 31): only
/// an ERTS major it has a layout for, a file the process maps executable, and four addresses
/// (with every byte the walker reads there) inside writable, non-executable mappings of that
/// file (docs/security.md).
@Suite struct BEAMLoaderTests {
    final class RecordingStorage: BEAMMapStorage {
        var processes: [Int32: tandem_beam_process] = [:]
        var generations: [UInt64] = []
        var forgotten: [UInt64] = []
        func writeProcess(pid: Int32, _ process: tandem_beam_process) -> Bool {
            processes[pid] = process
            return true
        }
        func removeProcess(pid: Int32) { processes[pid] = nil }
        func writeStreamGeneration(_ generation: UInt64) { generations.append(generation) }
        var forgottenInstances: [UInt32] = []
        func forgetFunction(pid: Int32, codeInfo: UInt64, instance: UInt32) {
            forgotten.append(codeInfo)
            forgottenInstances.append(instance)
        }
    }

    static let device: UInt64 = 0x803
    static let inode: UInt64 = 99
    static let text = [Mapping(start: 0x5600_0000_0000, end: 0x5600_0030_0000, fileOffset: 0, device: device, inode: inode,
                               path: "/usr/lib/erlang/erts-13.1.5/bin/beam.smp")]
    /// beam.smp's data and .bss, as PROCMAP_QUERY describes them (one mapping here).
    static let bss = DataMapping(start: 0x5600_003f_0000, end: 0x5600_0044_0000, device: device, inode: inode,
                                 isWritable: true, isExecutable: false)
    /// OTP 25's addresses (docs/beam.md) at a load bias of 0x5600_0000_0000.
    static let record = BEAMProcess(pid: 7, ertsMajor: 13, activeCodeIndexAddress: 0x5600_003f_ca44,
                                    rangesAddress: 0x5600_003f_c9e0, atomTableAddress: 0x5600_0043_30c0,
                                    normalExitAddress: 0x5600_003f_c4b0, schedulerDataAddress: 0x5600_003f_b8d0,
                                    schedulerCountAddress: 0x5600_003f_b908, frameLayoutAddress: 0x5600_003f_b918,
                                    dirtySchedulerDataAddress: 0x5600_003f_b8c8, dirtySchedulerCountAddress: 0x5600_003f_b8f8,
                                    device: device, inode: inode)

    func apply(_ record: BEAMProcess = record, text: [Mapping]? = text, data: DataMapping? = bss,
               storage: RecordingStorage = RecordingStorage()) -> (BEAMLoader, RecordingStorage) {
        let loader = BEAMLoader(storage: storage)
        loader.apply(record, executableMappings: text) { _, address in
            data.flatMap { address >= $0.start && address < $0.end ? $0 : nil }
        }
        return (loader, storage)
    }

    @Test func aCheckedRecordIsLoadedWithTheSamplersOwnLayoutIndex() {
        let (loader, storage) = apply()
        #expect(loader.counters.processesLoaded == 1 && loader.counters.processesRejected == 0, "\(loader.lastRejection ?? "")")
        let process = storage.processes[7]
        #expect(process?.active_code_index_address == Self.record.activeCodeIndexAddress)
        #expect(process?.ranges_address == Self.record.rangesAddress)
        #expect(process?.atom_table_address == Self.record.atomTableAddress)
        #expect(process?.normal_exit_address == Self.record.normalExitAddress)
        #expect(process?.scheduler_data_address == Self.record.schedulerDataAddress)
        #expect(process?.scheduler_count_address == Self.record.schedulerCountAddress)
        #expect(process?.frame_layout_address == Self.record.frameLayoutAddress)
        #expect(process?.dirty_scheduler_data_address == Self.record.dirtySchedulerDataAddress)
        #expect(process?.dirty_scheduler_count_address == Self.record.dirtySchedulerCountAddress)
        #expect(process?.layout == UInt32(BEAMLayout.layout(ertsMajor: 13)!.index))
        #expect(process?.instance == 1)
        // The same record again changes nothing.
        loader.apply(Self.record, executableMappings: Self.text) { _, _ in Self.bss }
        #expect(loader.counters.processesLoaded == 1 && storage.processes[7]?.instance == 1)
        // The pid's next VM (after an exec or exit) is another instance: the walker's sets
        // keyed by it hold none of the first one's entries.
        loader.remove(pid: 7)
        loader.apply(Self.record, executableMappings: Self.text) { _, _ in Self.bss }
        #expect(storage.processes[7]?.instance == 2)
    }

    static func with(_ change: (inout BEAMProcess) -> Void) -> BEAMProcess {
        var record = record
        change(&record)
        return record
    }

    @Test("refused, with a reason", arguments: [
        ("an ERTS major without a layout", with { $0.ertsMajor = 12 }),
        ("a major past 8 bits", with { $0.ertsMajor = 0x10d }),
        ("another file", with { $0.inode = 5 }),
        ("the active code index outside the data", with { $0.activeCodeIndexAddress = 0x5600_0000_1000 }),
        ("module tables that run past the mapping's end", with { $0.rangesAddress = 0x5600_0043_ffe0 }),
        ("an atom table whose segment pointer passes the end", with { $0.atomTableAddress = 0x5600_0043_ff90 }),
        ("the bottom continuation pointer outside the data", with { $0.normalExitAddress = 0x5600_0050_0000 }),
        ("an address that wraps", with { $0.normalExitAddress = .max - 3 }),
        ("the schedulers' data pointer outside the data", with { $0.schedulerDataAddress = 0x5600_0000_2000 }),
        ("a scheduler count past the mapping's end", with { $0.schedulerCountAddress = 0x5600_0043_fffc }),
        ("the frame layout outside the data", with { $0.frameLayoutAddress = 0x5600_0050_0000 }),
        ("the dirty schedulers' data outside the data", with { $0.dirtySchedulerDataAddress = 0x5600_0000_1000 }),
        ("a dirty scheduler count past the mapping's end", with { $0.dirtySchedulerCountAddress = 0x5600_0043_fffc }),
    ])
    func refused(_ what: String, _ record: BEAMProcess) {
        let (loader, storage) = apply(record)
        #expect(storage.processes.isEmpty, "\(what)")
        #expect(loader.counters.processesRejected == 1)
        #expect(loader.lastRejection?.hasPrefix("pid 7: ") == true, "\(loader.lastRejection ?? "")")
    }

    @Test func anUnknownProcessACodeMappingOrAnotherFilesDataIsRefused() {
        #expect(apply(text: nil).1.processes.isEmpty)
        let code = DataMapping(start: Self.bss.start, end: Self.bss.end, device: Self.device, inode: Self.inode,
                               isWritable: true, isExecutable: true)
        #expect(apply(data: code).1.processes.isEmpty)
        let readOnly = DataMapping(start: Self.bss.start, end: Self.bss.end, device: Self.device, inode: Self.inode,
                                   isWritable: false, isExecutable: false)
        #expect(apply(data: readOnly).1.processes.isEmpty)
        let other = DataMapping(start: Self.bss.start, end: Self.bss.end, device: Self.device, inode: 1,
                                isWritable: true, isExecutable: false)
        #expect(apply(data: other).1.processes.isEmpty)
    }

    @Test func offRefusesEverythingAndStreamsStartOver() {
        let off = BEAMLoader(storage: nil)
        off.apply(Self.record, executableMappings: Self.text) { _, _ in Self.bss }
        #expect(off.counters.processesRejected == 1 && off.lastRejection?.contains("--no-interpreter-frames") == true)
        let (loader, storage) = apply()
        loader.beginStream()
        #expect(storage.processes.isEmpty && storage.generations == [1])
        loader.remove(pid: 7)
    }

    @Test func lostFunctionRecordsAreSentAgain() {
        let storage = RecordingStorage()
        let loader = BEAMLoader(storage: storage)
        var event = tandem_beam_function_event()
        event.fields.kind = TANDEM_EVENT_BEAM_FUNCTION.rawValue
        event.fields.pid = 7
        event.fields.code_info = 0x1234
        event.fields.instance = 3
        let record = withUnsafeBytes(of: &event) { loader.functionRecord($0, streamIsLive: false) }
        #expect(record == nil && storage.forgotten == [0x1234] && loader.counters.functionRecordsLost == 1)
        #expect(storage.forgottenInstances == [3])
    }

    @Test func ringRecordsCopyOnlyWhatTheWalkerSays() {
        var event = tandem_beam_function_event()
        event.fields.pid = 7
        event.fields.code_info = 0x7f00_0000_1000
        event.fields.module = 0x1234b
        event.fields.function = 0x5678b
        event.fields.arity = 2
        event.fields.module_bytes = 11
        // More than the copy holds: kept to the copy's bound.
        event.fields.function_bytes = 0xffff
        withUnsafeMutableBytes(of: &event.module) { $0.copyBytes(from: Array("known_truth".utf8)) }
        withUnsafeMutableBytes(of: &event.function) { $0.copyBytes(from: Array("alpha".utf8)) }
        let record = withUnsafeBytes(of: &event) { BEAMRingRecords.functionRecord($0) }
        #expect(record?.moduleName == Array("known_truth".utf8))
        #expect(record?.functionName.count == Int(TANDEM_BEAM_ATOM_BYTES))
        #expect(record?.functionName.prefix(5) == Array("alpha".utf8)[...])
        #expect(record?.ertsMajor == 13 && record?.arity == 2 && record?.codeInfo == 0x7f00_0000_1000)
        #expect(record?.lineAddresses == [] && record?.locations == [] && record?.fileName == [])
        // Lines: two entries of 4-byte locations and a 3-character file name, copied as the walker states.
        event.fields.line_count = 2
        event.fields.location_size = 4
        event.fields.file_index = 1
        event.fields.file_characters = 3
        withUnsafeMutableBytes(of: &event.line_addresses) { $0.storeBytes(of: UInt64(0x1008), toByteOffset: 8, as: UInt64.self) }
        withUnsafeMutableBytes(of: &event.locations) { $0.copyBytes(from: [0x41, 0, 0, 1, 0x42, 0, 0, 1, 0xff]) }
        withUnsafeMutableBytes(of: &event.file) { $0.copyBytes(from: [0x61, 0, 0, 0, 0x2e, 0, 0, 0, 0x65, 0, 0, 0, 0x72]) }
        let lines = withUnsafeBytes(of: &event) { BEAMRingRecords.functionRecord($0) }
        #expect(lines?.lineAddresses == [0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x10, 0, 0, 0, 0, 0, 0])
        #expect(lines?.locationSize == 4 && lines?.locations == [0x41, 0, 0, 1, 0x42, 0, 0, 1] && lines?.fileIndex == 1)
        #expect(lines?.fileName == [0x61, 0, 0, 0, 0x2e, 0, 0, 0, 0x65, 0, 0, 0])
        // Counts past the copy's bounds are kept to them.
        event.fields.line_count = 0xffff
        event.fields.file_characters = 0xffff
        let bounded = withUnsafeBytes(of: &event) { BEAMRingRecords.functionRecord($0) }
        #expect(bounded?.lineAddresses.count == 8 * Int(TANDEM_BEAM_MAX_LINES))
        #expect(bounded?.locations.count == 4 * Int(TANDEM_BEAM_MAX_LINES))
        #expect(bounded?.fileName.count == 4 * Int(TANDEM_BEAM_FILE_CHARACTERS))
        // A layout index the sampler does not have: no record.
        event.fields.layout = 99
        #expect(withUnsafeBytes(of: &event) { BEAMRingRecords.functionRecord($0) } == nil)
    }

    @Test func sampleFramesAreTwoWordsEachUpToTheWalkersBound() {
        var event = tandem_beam_sample_event()
        event.walk.count = 1000
        event.walk.flags = TANDEM_BEAM_WALK_TRUNCATED.rawValue
        withUnsafeMutableBytes(of: &event.walk.frames) { frames in
            frames.storeBytes(of: tandem_beam_frame(code_info: 0x10, pc: 0x18), toByteOffset: 0, as: tandem_beam_frame.self)
        }
        var words: [UInt64] = []
        let flags = withUnsafeBytes(of: &event) { BEAMRingRecords.appendFrameWords(of: $0, to: &words) }
        #expect(flags == .truncated)
        #expect(words.count == 2 * Int(TANDEM_BEAM_MAX_FRAMES))
        #expect(Array(words.prefix(2)) == [0x10, 0x18])
    }

    @Test func theLayoutStructMatchesTheTable() {
        let layout = BEAMLayout.supported[0]
        let c = tandem_beam_layout(layout)
        #expect(c.erts_major == layout.ertsMajor && c.code_header_functions == layout.codeHeaderFunctions)
        #expect(c.index_table_segments == layout.indexTableSegments && c.atom_name == layout.atomName)
        #expect(c.code_header_line_table == layout.codeHeaderLineTable && c.line_table_functions == layout.lineTableFunctions
            && c.line_table_locations == layout.lineTableLocations && c.line_table_location_size == layout.lineTableLocationSize
            && c.line_table_file_names == layout.lineTableFileNames)
        #expect(c.code_index_count == layout.codeIndexCount && c.atom_tag == layout.atomTag)
    }
}
