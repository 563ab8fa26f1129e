import InterpreterLoading
import CTandemBPF
import V8Layouts
import WireFormat

/// Where the V8 walker's state goes: the BPF maps (`BPFV8Maps`), or a test's memory.
package protocol V8MapStorage: AnyObject {
    func writeProcess(pid: Int32, _ process: tandem_v8_process) -> Bool
    func removeProcess(pid: Int32)
    func writeStreamGeneration(_ generation: UInt64)
    func forgetFunction(pid: Int32, sharedFunctionInfo: UInt64, fingerprint: UInt32)
    func forgetCode(pid: Int32, instructionStart: UInt64, fingerprint: UInt32)
}

/// Checks the aggregator's V8 process records (control record 23) and hands the walker only
/// what it could check (docs/v8.md, docs/security.md):
///
/// - the build (version and patch) names one of the sampler's own layouts: the aggregator
///   sends no offset;
/// - the file (device, inode) is mapped executable by the process, as the sampler's own
///   reading of its mappings says;
/// - the metadata address lies in a writable, non-executable mapping of that same file
///   (its `.data`), as `PROCMAP_QUERY` says now: the process runs that very build.
///
/// The walker reads nothing at that address: it starts from the sampled registers and
/// follows a chain whose shape the layout fixes.
package final class V8Loader {
    package struct Counters: Equatable {
        package var processesLoaded: UInt64 = 0
        package var processesRejected: UInt64 = 0
        /// Function and code records not streamed (no live stream, or a code record cut
        /// short): the walker sends each again.
        package var functionRecordsLost: UInt64 = 0
    }

    /// nil: interpreter frames are off (`--no-interpreter-frames`), every record is refused.
    private let storage: V8MapStorage?
    private let layouts: [tandem_v8_layout]
    private var loaded: [Int32: V8Process] = [:]
    private var generation: UInt64 = 0
    package private(set) var counters = Counters()
    /// Why the last record was refused, for the stop log.
    package private(set) var lastRejection: String?

    /// `layouts[i]` is at index i of `v8_layouts` (`BPFV8Maps` wrote them).
    package init(storage: V8MapStorage?, layouts: [tandem_v8_layout] = V8Layout.supported.map(tandem_v8_layout.init)) {
        self.storage = storage
        self.layouts = layouts
    }

    private func layoutIndex(of record: V8Process) -> Int? {
        layouts.firstIndex { $0.version != 0 && $0.version == record.v8Version && UInt32($0.patch) == record.v8Patch }
    }

    /// Applies one record. `executableMappings` are the sampler's mappings of the pid (nil:
    /// unknown process); `mappingHolding` asks the kernel for the mapping holding an address.
    package func apply(_ record: V8Process, executableMappings: [Mapping]?,
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
        guard loaded.count < Int(TANDEM_V8_MAX_PROCESSES) || loaded[record.pid] != nil else {
            counters.processesRejected += 1
            lastRejection = "pid \(record.pid): \(TANDEM_V8_MAX_PROCESSES) V8 processes are followed already"
            return
        }
        let process = tandem_v8_process(layout: UInt32(layoutIndex(of: record)!), reserved: 0)
        guard storage.writeProcess(pid: record.pid, process) else {
            counters.processesRejected += 1
            lastRejection = "pid \(record.pid): the BPF map refused the update"
            return
        }
        loaded[record.pid] = record
        counters.processesLoaded += 1
    }

    private func check(_ record: V8Process, executableMappings: [Mapping]?,
                       mappingHolding: (Int32, UInt64) -> DataMapping?) -> String? {
        let build = "V8 \(record.v8Version >> 24).\(record.v8Version >> 16 & 0xff).\(record.v8Version & 0xffff).\(record.v8Patch)"
        guard layoutIndex(of: record) != nil else { return "\(build) has no layout in this sampler" }
        guard let executableMappings else { return "not a process the sampler knows" }
        guard executableMappings.contains(where: { $0.device == record.device && $0.inode == record.inode }) else {
            return "the process maps no executable file with device \(record.device) inode \(record.inode)"
        }
        let address = "0x\(String(record.address, radix: 16))"
        guard let data = mappingHolding(record.pid, record.address) else { return "no mapping holds address \(address)" }
        guard data.device == record.device, data.inode == record.inode else {
            return "address \(address) is not in the V8 file's mapping"
        }
        guard data.isWritable, !data.isExecutable else { return "address \(address) is not in a writable data mapping" }
        return nil
    }

    /// The process exited or exec'd: its V8 is gone.
    package func remove(pid: Int32) {
        guard loaded.removeValue(forKey: pid) != nil else { return }
        storage?.removeProcess(pid: pid)
    }

    /// A new stream starts: the walker forgets every process (the new connection's
    /// aggregator sends its own records) and sends every function again.
    package func beginStream() {
        for pid in loaded.keys { storage?.removeProcess(pid: pid) }
        loaded.removeAll()
        generation &+= 1
        storage?.writeStreamGeneration(generation)
    }

    /// The V8 counters of a statistics record: the loader's and the walker's (`counter`
    /// reads the BPF side's).
    package func addStatistics(to values: inout StatisticsCounters, counter: (UInt32) -> UInt64) {
        values[.v8ProcessesLoaded] = counters.processesLoaded
        values[.v8ProcessesRejected] = counters.processesRejected
        values[.v8Walks] = counter(TANDEM_COUNTER_V8_WALKS.rawValue)
        values[.v8WalksWithFrames] = counter(TANDEM_COUNTER_V8_FRAMES_FOUND.rawValue)
        values[.v8FunctionRecordsLost] = counters.functionRecordsLost + counter(TANDEM_COUNTER_V8_FUNCTION_RINGBUF_FULL.rawValue)
    }

    /// The stop log's "v8" line: the counters, in wire-code order.
    package func summary(_ statistics: SamplerStatistics) -> String {
        let names: [StatisticsCounter] = [.v8ProcessesLoaded, .v8ProcessesRejected, .v8Walks, .v8WalksWithFrames,
                                          .v8FunctionRecordsLost]
        return names.map { "\($0)=\(statistics[$0])" }.joined(separator: " ")
    }

    /// The function record of a ring-buffer record, for a live stream; else nil, and the
    /// walker is told to send it again (its entry in the sent set is deleted).
    package func functionRecord(_ record: UnsafeRawBufferPointer, streamIsLive: Bool) -> V8FunctionRecord? {
        if streamIsLive, let function = V8RingRecords.functionRecord(record) { return function }
        counters.functionRecordsLost += 1
        let fields = V8RingRecords.functionFields(of: record)
        storage?.forgetFunction(pid: Int32(bitPattern: fields.pid), sharedFunctionInfo: fields.sfi,
                                fingerprint: fields.fingerprint)
        return nil
    }

    /// The stream record of a side record of the walker (event kind 10): a function or a
    /// code record, for a live stream; else nil, and the walker is told to send it again.
    package func sideRecord(_ record: UnsafeRawBufferPointer, streamIsLive: Bool) -> Record? {
        guard V8RingRecords.sideRecordKind(of: record) == TANDEM_V8_RECORD_CODE.rawValue else {
            return functionRecord(record, streamIsLive: streamIsLive).map { .v8Function($0) }
        }
        guard record.count >= V8RingRecords.codeRecordSize else {
            counters.functionRecordsLost += 1
            return nil
        }
        if streamIsLive, let code = V8RingRecords.codeRecord(record) { return .v8Code(code) }
        counters.functionRecordsLost += 1
        let fields = V8RingRecords.codeFields(of: record)
        storage?.forgetCode(pid: Int32(bitPattern: fields.pid), instructionStart: fields.instruction_start,
                            fingerprint: fields.fingerprint)
        return nil
    }
}
