import CPythonLayouts
import InterpreterLoading
import CTandemBPF
import WireFormat

/// Where the CPython walker's state goes: the BPF maps (`BPFCPythonMaps`), or a test's memory.
package protocol CPythonMapStorage: AnyObject {
    func writeProcess(pid: Int32, _ process: tandem_cpython_process) -> Bool
    func removeProcess(pid: Int32)
    func writeStreamGeneration(_ generation: UInt64)
    func forgetCode(pid: Int32, code: UInt64, fingerprint: UInt32)
}

/// Checks the aggregator's CPython process records (control record 19) and hands the
/// walker only what it could check (docs/cpython.md, docs/security.md):
///
/// - the version names one of the sampler's own layouts: the aggregator sends no offset;
/// - the file (device, inode) is mapped executable by the process, as the sampler's own
///   reading of its mappings says;
/// - the runtime address lies, with every runtime field the layout reads, in a
///   writable, non-executable mapping of that same file, as `PROCMAP_QUERY` says now.
///
/// So the walker starts only from an interpreter's data in a process that maps that
/// interpreter, and follows a chain whose shape is fixed by the layout.
package final class CPythonLoader {
    package struct Counters: Equatable {
        package var processesLoaded: UInt64 = 0
        package var processesRejected: UInt64 = 0
        /// Code records not streamed (no live stream): the walker sends each again.
        package var codeRecordsLost: UInt64 = 0
    }

    /// nil: interpreter frames are off (`--no-interpreter-frames`), every record is refused.
    private let storage: CPythonMapStorage?
    /// The sampler's layouts, by `major << 8 | minor`: the index is the walker's layout index.
    private let layoutIndexes: [UInt32: UInt32]
    private let layouts: [tandem_cpython_layout]
    /// The record loaded for each process: the aggregator sends it again with each set of
    /// the process's mappings, and an unchanged one is not checked (a /proc open) again.
    private var loaded: [Int32: CPythonProcess] = [:]
    private var generation: UInt64 = 0
    package private(set) var counters = Counters()
    /// Why the last record was refused, for the stop log.
    package private(set) var lastRejection: String?

    /// `layouts[i]` is at index i of `cpython_layouts` (`BPFCPythonMaps` wrote them).
    package init(storage: CPythonMapStorage?,
                 layouts: [tandem_cpython_layout] = CPythonLayout.supported.map(tandem_cpython_layout.init)) {
        self.storage = storage
        self.layouts = layouts
        var indexes: [UInt32: UInt32] = [:]
        for (index, layout) in layouts.enumerated() where layout.version != 0 { indexes[layout.version] = UInt32(index) }
        layoutIndexes = indexes
    }

    /// Applies one record. `executableMappings` are the sampler's mappings of the pid (nil:
    /// unknown process); `mappingHolding` asks the kernel for the mapping holding an address.
    package func apply(_ record: CPythonProcess, executableMappings: [Mapping]?,
                       mappingHolding: (Int32, UInt64) -> DataMapping?) {
        guard let storage else {
            counters.processesRejected += 1
            lastRejection = "pid \(record.pid): interpreter frames are off in this sampler (--no-interpreter-frames)"
            return
        }
        if loaded[record.pid] == record { return }
        if let reason = check(record, executableMappings: executableMappings, mappingHolding: mappingHolding) {
            counters.processesRejected += 1
            lastRejection = "pid \(record.pid): \(reason)"
            return
        }
        guard loaded.count < Int(TANDEM_CPYTHON_MAX_PROCESSES) || loaded[record.pid] != nil else {
            counters.processesRejected += 1
            lastRejection = "pid \(record.pid): \(TANDEM_CPYTHON_MAX_PROCESSES) CPython processes are followed already"
            return
        }
        let process = tandem_cpython_process(runtime_address: record.runtimeAddress,
                                             layout: layoutIndexes[record.pythonVersion]!, reserved: 0)
        guard storage.writeProcess(pid: record.pid, process) else {
            counters.processesRejected += 1
            lastRejection = "pid \(record.pid): the BPF map refused the update"
            return
        }
        loaded[record.pid] = record
        counters.processesLoaded += 1
    }

    private func check(_ record: CPythonProcess, executableMappings: [Mapping]?,
                       mappingHolding: (Int32, UInt64) -> DataMapping?) -> String? {
        guard let index = layoutIndexes[record.pythonVersion] else {
            return "CPython \(record.pythonVersion >> 8).\(record.pythonVersion & 0xff) has no layout in this sampler"
        }
        guard let executableMappings else { return "not a process the sampler knows" }
        guard executableMappings.contains(where: { $0.device == record.device && $0.inode == record.inode }) else {
            return "the process maps no executable file with device \(record.device) inode \(record.inode)"
        }
        guard let data = mappingHolding(record.pid, record.runtimeAddress) else {
            return "no mapping holds address 0x\(String(record.runtimeAddress, radix: 16))"
        }
        guard data.device == record.device, data.inode == record.inode else {
            return "address 0x\(String(record.runtimeAddress, radix: 16)) is not in the interpreter file's mapping"
        }
        guard data.isWritable, !data.isExecutable else {
            return "address 0x\(String(record.runtimeAddress, radix: 16)) is not in a writable data mapping"
        }
        // Every runtime field the walker reads must lie in that mapping.
        let lastField = UInt64(layouts[Int(index)].runtime_interpreters_head) + 8
        let (end, overflow) = record.runtimeAddress.addingReportingOverflow(lastField)
        guard record.runtimeAddress >= data.start, !overflow, end <= data.end else {
            return "the runtime state at 0x\(String(record.runtimeAddress, radix: 16)) runs past its mapping"
        }
        return nil
    }

    /// The process exited or exec'd: its interpreter is gone.
    package func remove(pid: Int32) {
        guard loaded.removeValue(forKey: pid) != nil else { return }
        storage?.removeProcess(pid: pid)
    }

    /// A new stream starts: the walker forgets every process (the new connection's
    /// aggregator sends its own records) and sends every code object again.
    package func beginStream() {
        for pid in loaded.keys { storage?.removeProcess(pid: pid) }
        loaded.removeAll()
        generation &+= 1
        storage?.writeStreamGeneration(generation)
    }

    /// The CPython counters of a statistics record: the loader's, the walker's (`counter`
    /// reads the BPF side's), and the code records the sampler could not stream.
    package func addStatistics(to values: inout StatisticsCounters, counter: (UInt32) -> UInt64) {
        values[.cpythonProcessesLoaded] = counters.processesLoaded
        values[.cpythonProcessesRejected] = counters.processesRejected
        values[.cpythonWalks] = counter(TANDEM_COUNTER_CPYTHON_WALKS.rawValue)
        values[.cpythonWalksWithFrames] = counter(TANDEM_COUNTER_CPYTHON_FRAMES_FOUND.rawValue)
        values[.cpythonCodeRecords] = counter(TANDEM_COUNTER_CPYTHON_CODE_RECORDS.rawValue)
        values[.cpythonCodeRecordsLost] = counters.codeRecordsLost + counter(TANDEM_COUNTER_CPYTHON_CODE_RINGBUF_FULL.rawValue)
    }

    /// The stop log's "cpython" line: the counters, in wire-code order.
    package func summary(_ statistics: SamplerStatistics) -> String {
        let names: [StatisticsCounter] = [.cpythonProcessesLoaded, .cpythonProcessesRejected, .cpythonWalks,
                                          .cpythonWalksWithFrames, .cpythonCodeRecords, .cpythonCodeRecordsLost]
        return names.map { "\($0)=\(statistics[$0])" }.joined(separator: " ")
    }

    /// The code record of a ring-buffer record, for a live stream; else nil, and the
    /// walker is told to send it again (its entry in the sent set is deleted).
    package func codeRecord(_ record: UnsafeRawBufferPointer, streamIsLive: Bool) -> CPythonCodeRecord? {
        if streamIsLive, let code = CPythonRingRecords.codeRecord(record) { return code }
        counters.codeRecordsLost += 1
        let fields = CPythonRingRecords.codeFields(of: record)
        storage?.forgetCode(pid: Int32(bitPattern: fields.pid), code: fields.code, fingerprint: fields.fingerprint)
        return nil
    }
}
