import CTandemBPF
import InterpreterLoading
import PHPLayouts
import PHPLoading
import Testing
import WireFormat

/// What the sampler accepts of the aggregator's PHP process records (control record 29): only
/// a version it has a layout for, a file the process maps executable, and executor globals
/// (through the pointer the walker reads) inside a writable, non-executable mapping of that
/// file (docs/security.md).
@Suite struct PHPLoaderTests {
    final class RecordingStorage: PHPMapStorage {
        var processes: [Int32: tandem_php_process] = [:]
        var generations: [UInt64] = []
        var forgotten: [UInt64] = []
        func writeProcess(pid: Int32, _ process: tandem_php_process) -> Bool {
            processes[pid] = process
            return true
        }
        func removeProcess(pid: Int32) { processes[pid] = nil }
        func writeStreamGeneration(_ generation: UInt64) { generations.append(generation) }
        func forgetFunction(pid: Int32, function: UInt64, fingerprint: UInt32) { forgotten.append(function) }
    }

    static let device: UInt64 = 0x803
    static let inode: UInt64 = 99
    static let text = [Mapping(start: 0x5600_0000_0000, end: 0x5600_0040_0000, fileOffset: 0, device: device, inode: inode,
                               path: "/usr/bin/php8.2")]
    /// php8.2's .bss, as PROCMAP_QUERY describes it.
    static let bss = DataMapping(start: 0x5600_0058_a000, end: 0x5600_0059_2000, device: device, inode: inode,
                                 isWritable: true, isExecutable: false)
    static let record = PHPProcess(pid: 7, phpVersion: 0x0802, executorGlobalsAddress: 0x5600_0058_ae60,
                                   device: device, inode: inode)

    func apply(_ record: PHPProcess = record, text: [Mapping]? = text, data: DataMapping? = bss,
               storage: RecordingStorage = RecordingStorage()) -> (PHPLoader, RecordingStorage) {
        let loader = PHPLoader(storage: storage)
        loader.apply(record, executableMappings: text) { _, _ in data }
        return (loader, storage)
    }

    @Test func aCheckedRecordIsLoadedWithTheSamplersOwnLayoutIndex() {
        let (loader, storage) = apply()
        #expect(loader.counters.processesLoaded == 1)
        #expect(storage.processes[7]?.executor_globals_address == 0x5600_0058_ae60)
        #expect(storage.processes[7]?.layout == UInt32(PHPLayout.index(of: PHPVersion(major: 8, minor: 2))!))
    }

    @Test("refused, with a reason", arguments: [
        ("a version without a layout", PHPProcess(pid: 7, phpVersion: 0x0703, executorGlobalsAddress: 0x5600_0058_ae60, device: device, inode: inode)),
        ("another file", PHPProcess(pid: 7, phpVersion: 0x0802, executorGlobalsAddress: 0x5600_0058_ae60, device: device, inode: 5)),
        ("globals whose read pointer passes the mapping's end", PHPProcess(pid: 7, phpVersion: 0x0802, executorGlobalsAddress: 0x5600_0059_1f00, device: device, inode: inode)),
        ("an address that wraps", PHPProcess(pid: 7, phpVersion: 0x0802, executorGlobalsAddress: .max - 3, device: device, inode: inode)),
    ])
    func refused(_ what: String, _ record: PHPProcess) {
        let inData = record.executorGlobalsAddress >= Self.bss.start && record.executorGlobalsAddress < Self.bss.end
        let (loader, storage) = apply(record, data: inData ? Self.bss : nil)
        #expect(storage.processes.isEmpty, "\(what)")
        #expect(loader.counters.processesRejected == 1)
        #expect(loader.lastRejection?.hasPrefix("pid 7: ") == true, "\(loader.lastRejection ?? "")")
    }

    /// opcache's JIT buffer, an executable shared mapping of no regular file.
    static let jitMapping = Mapping(start: 0x55ff_0000_0000, end: 0x55ff_0400_0000, fileOffset: 0x0800_0000, device: 1,
                                    inode: 1097, path: "/dev/zero (deleted)")
    static func jitRecord(dispatch: UInt64 = 0x5600_0036_cc25, cfaOffset: UInt32 = 160,
                          jit: Range<UInt64> = 0x55ff_0000_0000..<0x55ff_0400_0000) -> PHPProcess {
        PHPProcess(pid: 7, phpVersion: 0x0802, executorGlobalsAddress: 0x5600_0058_ae60, device: device, inode: inode,
                   executeDispatch: dispatch, dispatchCFAOffset: cfaOffset, jitStart: jit.lowerBound, jitEnd: jit.upperBound)
    }

    @Test func theJITStepIsLoadedWithTheEnginesExecutableMapping() {
        let (loader, storage) = apply(Self.jitRecord(), text: Self.text + [Self.jitMapping])
        #expect(loader.counters.processesLoaded == 1, "\(loader.lastRejection ?? "")")
        let process = storage.processes[7]
        #expect(process?.execute_dispatch == 0x5600_0036_cc25)
        #expect(process?.dispatch_cfa_offset == 160)
        #expect(process?.jit_start == Self.jitMapping.start && process?.jit_end == Self.jitMapping.end)
        #expect(process?.engine_start == Self.text[0].start && process?.engine_end == Self.text[0].end)
        // No JIT buffer named: no step.
        #expect(apply().1.processes[7]?.jit_end == 0)
    }

    @Test("a JIT step that does not check out is refused, with a reason", arguments: [
        ("a dispatch address outside the engine's code", jitRecord(dispatch: 0x5700_0000_0000)),
        ("a CFA offset no frame has", jitRecord(cfaOffset: 12)),
        ("a huge CFA offset", jitRecord(cfaOffset: 1 << 20)),
        ("a JIT buffer the process does not map", jitRecord(jit: 0x1000..<0x2000)),
        ("a JIT buffer past its mapping", jitRecord(jit: 0x55ff_0000_0000..<0x55ff_0500_0000)),
        ("the engine's own code as the JIT buffer", jitRecord(jit: 0x5600_0000_1000..<0x5600_0000_2000)),
    ])
    func refusedJIT(_ what: String, _ record: PHPProcess) {
        let (loader, storage) = apply(record, text: Self.text + [Self.jitMapping])
        #expect(storage.processes.isEmpty, "\(what)")
        #expect(loader.lastRejection?.contains("JIT") == true, "\(what): \(loader.lastRejection ?? "")")
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
        let off = PHPLoader(storage: nil)
        off.apply(Self.record, executableMappings: Self.text) { _, _ in Self.bss }
        #expect(off.counters.processesRejected == 1 && off.lastRejection?.contains("--no-interpreter-frames") == true)
        let (loader, storage) = apply()
        loader.beginStream()
        #expect(storage.processes.isEmpty && storage.generations == [1])
    }

    @Test func lostFunctionRecordsAreSentAgain() {
        let storage = RecordingStorage()
        let loader = PHPLoader(storage: storage)
        var event = tandem_php_function_event()
        event.fields.kind = TANDEM_EVENT_PHP_FUNCTION.rawValue
        event.fields.pid = 7
        event.fields.function = 0x1234
        event.fields.layout = 0
        let record = withUnsafeBytes(of: &event) { loader.functionRecord($0, streamIsLive: false) }
        #expect(record == nil && storage.forgotten == [0x1234] && loader.counters.functionRecordsLost == 1)
    }

    @Test func ringRecordsCopyOnlyWhatTheWalkerSays() {
        var event = tandem_php_function_event()
        event.fields.pid = 7
        event.fields.function = 0x1234
        event.fields.fingerprint = 9
        event.fields.type = 2
        event.fields.has_name = 1
        event.fields.has_class = 1
        event.fields.line_start = 26
        event.fields.name_bytes = 4
        event.fields.class_bytes = 4
        // More than the copy holds: kept to the copy's bound.
        event.fields.file_bytes = 0xffff
        withUnsafeMutableBytes(of: &event.name) { $0.copyBytes(from: Array("beta".utf8)) }
        withUnsafeMutableBytes(of: &event.class_name) { $0.copyBytes(from: Array("Calc".utf8)) }
        let record = withUnsafeBytes(of: &event) { PHPRingRecords.functionRecord($0) }
        #expect(record?.name == Array("beta".utf8) && record?.className == Array("Calc".utf8))
        #expect(record?.file.count == Int(TANDEM_PHP_FILE_BYTES))
        #expect(record?.phpVersion == 0x0802 && record?.lineStart == 26 && record?.hasClass == true)
        // A layout index the sampler does not have: no record.
        event.fields.layout = 99
        #expect(withUnsafeBytes(of: &event) { PHPRingRecords.functionRecord($0) } == nil)
    }

    @Test func theLayoutStructMatchesTheTable() {
        let layout = PHPLayout.supported[0]
        let c = tandem_php_layout(layout)
        #expect(c.version == 0x0802 && c.execute_data_previous == layout.executeDataPrevious)
        #expect(c.op_array_line_start == layout.opArrayLineStart && c.op_line_number == layout.opLineNumber)
        #expect(c.op_array_last == layout.opArrayLast && c.op_array_opcodes == layout.opArrayOpcodes && c.op_size == layout.opSize)
    }
}
