import InterpreterLoading
import CTandemBPF
import Testing
import V8Layouts
import V8Loading
import WireFormat

/// What the sampler accepts of the aggregator's V8 process records (control record 23):
/// only a build it has a layout for, a file the process maps executable, and a metadata
/// address inside a writable, non-executable mapping of that file (docs/security.md).
@Suite struct V8LoaderTests {
    final class RecordingStorage: V8MapStorage {
        var processes: [Int32: tandem_v8_process] = [:]
        var generations: [UInt64] = []
        var forgotten: [UInt64] = []
        func writeProcess(pid: Int32, _ process: tandem_v8_process) -> Bool {
            processes[pid] = process
            return true
        }
        func removeProcess(pid: Int32) { processes[pid] = nil }
        func writeStreamGeneration(_ generation: UInt64) { generations.append(generation) }
        func forgetFunction(pid: Int32, sharedFunctionInfo: UInt64, fingerprint: UInt32) { forgotten.append(sharedFunctionInfo) }
        var forgottenCodes: [UInt64] = []
        func forgetCode(pid: Int32, instructionStart: UInt64, fingerprint: UInt32) { forgottenCodes.append(instructionStart) }
    }

    static let device: UInt64 = 0x803
    static let inode: UInt64 = 91
    static let text = [Mapping(start: 0x400000, end: 0x4000000, fileOffset: 0, device: device, inode: inode, path: "/usr/bin/node")]
    static let data = DataMapping(start: 0x5600000, end: 0x5700000, device: device, inode: inode, isWritable: true,
                                         isExecutable: false)
    static let layout = V8Layout.supported[0]
    static let record = V8Process(pid: 42, v8Version: layout.version, v8Patch: UInt32(layout.patch), address: 0x5651050,
                                  device: device, inode: inode)

    func apply(_ record: V8Process = record, text: [Mapping]? = text, data: DataMapping? = data)
        -> (V8Loader, RecordingStorage) {
        let storage = RecordingStorage()
        let loader = V8Loader(storage: storage)
        loader.apply(record, executableMappings: text) { _, _ in data }
        return (loader, storage)
    }

    @Test func aCheckedRecordIsLoadedWithTheSamplersOwnLayoutIndex() {
        let (loader, storage) = apply()
        #expect(loader.counters.processesLoaded == 1 && loader.counters.processesRejected == 0)
        #expect(storage.processes[42]?.layout == 0)
    }

    @Test("refused, with a reason", arguments: [
        ("another V8 build", V8Process(pid: 42, v8Version: layout.version, v8Patch: UInt32(layout.patch) + 1,
                                       address: 0x5651050, device: device, inode: inode)),
        ("another file", V8Process(pid: 42, v8Version: layout.version, v8Patch: UInt32(layout.patch), address: 0x5651050,
                                   device: device, inode: 92)),
        ("an address outside every mapping", V8Process(pid: 42, v8Version: layout.version, v8Patch: UInt32(layout.patch),
                                                       address: 0x10, device: device, inode: inode)),
    ])
    func refused(_ what: String, _ record: V8Process) {
        let inData = record.address >= Self.data.start && record.address < Self.data.end
        let (loader, storage) = apply(record, data: inData ? Self.data : nil)
        #expect(storage.processes.isEmpty, "\(what)")
        #expect(loader.counters.processesRejected == 1)
        #expect(loader.lastRejection?.hasPrefix("pid 42: ") == true, "\(loader.lastRejection ?? "")")
    }

    @Test func anUnknownProcessOrACodeMappingIsRefused() {
        #expect(apply(text: nil).1.processes.isEmpty)
        let code = DataMapping(start: 0x5600000, end: 0x5700000, device: Self.device, inode: Self.inode,
                                      isWritable: false, isExecutable: true)
        #expect(apply(data: code).1.processes.isEmpty)
    }

    @Test func offRefusesEverything() {
        let loader = V8Loader(storage: nil)
        loader.apply(Self.record, executableMappings: Self.text) { _, _ in Self.data }
        #expect(loader.counters.processesRejected == 1)
        #expect(loader.lastRejection?.contains("--no-interpreter-frames") == true)
    }

    @Test func aNewStreamForgetsProcessesAndBumpsTheGeneration() {
        let (loader, storage) = apply()
        loader.beginStream()
        #expect(storage.processes.isEmpty)
        #expect(storage.generations == [1])
        loader.apply(Self.record, executableMappings: Self.text) { _, _ in Self.data }
        loader.remove(pid: 42)
        #expect(storage.processes.isEmpty)
    }

    /// A ring record as the walker writes it: frames to words, a function record's copies by offset.
    @Test func ringRecordsBecomeStreamData() {
        var sample = [UInt8](repeating: 0, count: V8RingRecords.sampleRecordSize)
        let walk = MemoryLayout<tandem_sample_event>.size
        sample.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(1), toByteOffset: walk, as: UInt32.self)
            raw.storeBytes(of: UInt32(TANDEM_V8_WALK_TRUNCATED.rawValue), toByteOffset: walk + 4, as: UInt32.self)
            let frame = tandem_v8_frame(pc: 0x7f00_1234, sfi: 0x3567_0009, fingerprint: 77, offset: 12,
                                        kind: UInt8(TANDEM_V8_FRAME_INTERPRETED.rawValue), code_kind: 2, flags: 0,
                                        code_fingerprint: 0)
            raw.storeBytes(of: frame, toByteOffset: walk + 8, as: tandem_v8_frame.self)
        }
        var words: [UInt64] = []
        let flags = sample.withUnsafeBytes { V8RingRecords.appendFrameWords(of: $0, to: &words) }
        #expect(flags == .truncated)
        #expect(V8Frame.frames(words: words) == [V8Frame(pc: 0x7f00_1234, sharedFunctionInfo: 0x3567_0009, fingerprint: 77,
                                                         offset: 12, kind: .interpreted, codeKind: 2, flags: [])])

        var function = [UInt8](repeating: 0xEE, count: V8RingRecords.functionRecordSize)
        function.withUnsafeMutableBytes { raw in
            var fields = tandem_v8_function_event_fields()
            fields.kind = TANDEM_EVENT_V8_FUNCTION.rawValue
            fields.pid = 42
            fields.sfi = 0x3567_0009
            fields.fingerprint = 77
            fields.layout = 0
            fields.sfi_bytes = UInt16(TANDEM_V8_SFI_BYTES)
            fields.name_bytes = 4
            fields.name_type = 8
            fields.script_name_bytes = 9999 // more than the copy holds: clamped to its bound
            raw.storeBytes(of: fields, as: tandem_v8_function_event_fields.self)
        }
        let record = function.withUnsafeBytes { V8RingRecords.functionRecord($0) }
        #expect(record?.sharedFunctionInfoBytes.count == Int(TANDEM_V8_SFI_BYTES))
        #expect(record?.scopeInfoSlots.isEmpty == true)
        #expect(record?.name == [0xEE, 0xEE, 0xEE, 0xEE])
        #expect(record?.scriptName.count == Int(TANDEM_V8_SCRIPT_NAME_BYTES))
        #expect(record?.v8Version == Self.layout.version)
    }

    /// A code record (record kind 10, `record` 2): its inlined functions, then its two copies
    /// by offset, each clamped to its bound; dropped (and sent again) without a live stream.
    @Test func codeRecordsBecomeStreamData() throws {
        var event = [UInt8](repeating: 0xEE, count: V8RingRecords.codeRecordSize)
        event.withUnsafeMutableBytes { raw in
            var fields = tandem_v8_code_event_fields()
            fields.kind = TANDEM_EVENT_V8_FUNCTION.rawValue
            fields.pid = 42
            fields.record = TANDEM_V8_RECORD_CODE.rawValue
            fields.layout = 0
            fields.code = 0x1234_0001
            fields.instruction_start = 0x7f00_0000
            fields.fingerprint = 0x55
            fields.instruction_size = 4512
            fields.code_kind = 13
            fields.inlined = 2
            fields.positions_bytes = 16
            fields.table_bytes = 60000 // more than the copy holds: clamped to its bound
            raw.storeBytes(of: fields, as: tandem_v8_code_event_fields.self)
            let functions = MemoryLayout<tandem_v8_code_event_fields>.size
            raw.storeBytes(of: tandem_v8_inlined_function(sfi: 0xA1, fingerprint: 1, reserved: 0), toByteOffset: functions,
                           as: tandem_v8_inlined_function.self)
            raw.storeBytes(of: tandem_v8_inlined_function(sfi: 0xB1, fingerprint: 3, reserved: 0),
                           toByteOffset: functions + MemoryLayout<tandem_v8_inlined_function>.stride,
                           as: tandem_v8_inlined_function.self)
        }
        let storage = RecordingStorage()
        let loader = V8Loader(storage: storage)
        let record = event.withUnsafeBytes { loader.sideRecord($0, streamIsLive: true) }
        guard case .v8Code(let code) = record else {
            Issue.record("not a code record: \(String(describing: record))")
            return
        }
        #expect(code.pid == 42 && code.instructionStart == 0x7f00_0000 && code.fingerprint == 0x55 && code.codeKind == 13)
        #expect(code.inlinedFunctions == [V8InlinedFunction(sharedFunctionInfo: 0xA1, fingerprint: 1),
                                          V8InlinedFunction(sharedFunctionInfo: 0xB1, fingerprint: 3)])
        #expect(code.inliningPositions == [UInt8](repeating: 0xEE, count: 16))
        #expect(code.sourcePositionTable.count == Int(TANDEM_V8_POSITION_TABLE_BYTES))

        #expect(event.withUnsafeBytes { loader.sideRecord($0, streamIsLive: false) } == nil)
        #expect(storage.forgottenCodes == [0x7f00_0000])
        // A code record cut short (shorter than its struct) is dropped, not read past its end.
        #expect(event.withUnsafeBytes { loader.sideRecord(UnsafeRawBufferPointer(rebasing: $0[..<V8RingRecords.functionRecordSize]), streamIsLive: true) } == nil)
        #expect(loader.counters.functionRecordsLost == 2)
        // A function record still goes its way.
        var function = [UInt8](repeating: 0, count: V8RingRecords.functionRecordSize)
        function.withUnsafeMutableBytes { raw in
            var fields = tandem_v8_function_event_fields()
            fields.kind = TANDEM_EVENT_V8_FUNCTION.rawValue
            fields.record = TANDEM_V8_RECORD_FUNCTION.rawValue
            fields.pid = 42
            fields.sfi = 0xA1
            raw.storeBytes(of: fields, as: tandem_v8_function_event_fields.self)
        }
        guard case .v8Function(let decoded) = function.withUnsafeBytes({ loader.sideRecord($0, streamIsLive: true) }) else {
            Issue.record("not a function record")
            return
        }
        #expect(decoded.sharedFunctionInfo == 0xA1)
    }
}
