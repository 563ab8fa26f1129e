import CPythonLoading
import CTandemBPF
import InterpreterLoading
import Testing
import WireFormat

/// What the sampler accepts of the aggregator's CPython process records (control record 19):
/// only a version it has a layout for, a file the process maps executable, and a runtime
/// address inside a writable, non-executable mapping of that file (docs/security.md).
@Suite struct CPythonLoaderTests {
    final class RecordingStorage: CPythonMapStorage {
        var processes: [Int32: tandem_cpython_process] = [:]
        var generations: [UInt64] = []
        var forgotten: [UInt64] = []
        var refuses = false
        func writeProcess(pid: Int32, _ process: tandem_cpython_process) -> Bool {
            if refuses { return false }
            processes[pid] = process
            return true
        }
        func removeProcess(pid: Int32) { processes[pid] = nil }
        func writeStreamGeneration(_ generation: UInt64) { generations.append(generation) }
        func forgetCode(pid: Int32, code: UInt64, fingerprint: UInt32) { forgotten.append(code) }
    }

    static let device: UInt64 = 0x803
    static let inode: UInt64 = 77
    /// The interpreter's text, as the sampler read the process's mappings.
    static let text = [Mapping(start: 0x400000, end: 0x600000, fileOffset: 0, device: device, inode: inode, path: "/usr/bin/python3.11")]
    /// Its data, as PROCMAP_QUERY describes the mapping holding an address.
    static let data = DataMapping(start: 0xa00000, end: 0xa60000, device: device, inode: inode, isWritable: true,
                                         isExecutable: false)
    static let record = CPythonProcess(pid: 42, pythonVersion: 0x030b, runtimeAddress: 0xa5b740, device: device, inode: inode)

    func apply(_ record: CPythonProcess = record, text: [Mapping]? = text, data: DataMapping? = data,
               storage: RecordingStorage = RecordingStorage()) -> (CPythonLoader, RecordingStorage) {
        let loader = CPythonLoader(storage: storage)
        loader.apply(record, executableMappings: text) { _, _ in data }
        return (loader, storage)
    }

    @Test func aCheckedRecordIsLoadedWithTheSamplersOwnLayoutIndex() {
        let (loader, storage) = apply()
        #expect(loader.counters.processesLoaded == 1 && loader.counters.processesRejected == 0)
        let loaded = storage.processes[42]
        #expect(loaded?.runtime_address == 0xa5b740)
        // 3.11 is the fourth layout: 3.8, 3.9, 3.10, 3.11, ...
        #expect(loaded?.layout == 3)
    }

    @Test("refused, with a reason", arguments: [
        ("a version without a layout", CPythonProcess(pid: 42, pythonVersion: 0x0207, runtimeAddress: 0xa5b740, device: device, inode: inode)),
        ("another file", CPythonProcess(pid: 42, pythonVersion: 0x030b, runtimeAddress: 0xa5b740, device: device, inode: 78)),
        ("an address outside every mapping", CPythonProcess(pid: 42, pythonVersion: 0x030b, runtimeAddress: 0x10, device: device, inode: inode)),
        ("fields past the mapping's end", CPythonProcess(pid: 42, pythonVersion: 0x030b, runtimeAddress: 0xa5fff0, device: device, inode: inode)),
        ("an address that wraps", CPythonProcess(pid: 42, pythonVersion: 0x030b, runtimeAddress: .max - 4, device: device, inode: inode)),
    ])
    func refused(_ what: String, _ record: CPythonProcess) {
        // The kernel's answer for an address outside the data mapping: none.
        let inData = record.runtimeAddress >= Self.data.start && record.runtimeAddress < Self.data.end
        let (loader, storage) = apply(record, data: inData ? Self.data : nil)
        #expect(storage.processes.isEmpty, "\(what)")
        #expect(loader.counters.processesRejected == 1)
        #expect(loader.lastRejection?.hasPrefix("pid 42: ") == true, "\(loader.lastRejection ?? "")")
    }

    @Test func anUnknownProcessOrACodeMappingIsRefused() {
        #expect(apply(text: nil).1.processes.isEmpty)
        let code = DataMapping(start: 0xa00000, end: 0xa60000, device: Self.device, inode: Self.inode, isWritable: false,
                                      isExecutable: true)
        #expect(apply(data: code).1.processes.isEmpty)
        let otherFile = DataMapping(start: 0xa00000, end: 0xa60000, device: Self.device, inode: 9, isWritable: true,
                                           isExecutable: false)
        #expect(apply(data: otherFile).1.processes.isEmpty)
    }

    @Test func offRefusesEverything() {
        let loader = CPythonLoader(storage: nil)
        loader.apply(Self.record, executableMappings: Self.text) { _, _ in Self.data }
        #expect(loader.counters.processesRejected == 1)
        #expect(loader.lastRejection?.contains("--no-interpreter-frames") == true)
    }

    @Test func execExitAndANewStreamForgetTheProcess() {
        let (loader, storage) = apply()
        loader.remove(pid: 42)
        #expect(storage.processes.isEmpty)
        loader.apply(Self.record, executableMappings: Self.text) { _, _ in Self.data }
        loader.beginStream()
        #expect(storage.processes.isEmpty)
        #expect(storage.generations == [1])
        loader.beginStream()
        #expect(storage.generations == [1, 2])
    }
}
