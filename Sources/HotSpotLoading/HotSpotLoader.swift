import InterpreterLoading
import CTandemBPF
import HotSpotLayouts
import WireFormat

/// Where the JVM walker's state goes: the BPF maps (`BPFHotSpotMaps`), or a test's memory.
package protocol HotSpotMapStorage: AnyObject {
    func writeProcess(pid: Int32, _ process: tandem_hotspot_process) -> Bool
    func removeProcess(pid: Int32)
    func writeStreamGeneration(_ generation: UInt64)
    func forgetMethod(pid: Int32, method: UInt64, fingerprint: UInt32)
    func forgetCode(pid: Int32, code: UInt64, fingerprint: UInt32)
}

/// Checks the aggregator's JVM process records (control record 21) and hands the walker
/// only what it could check (docs/jvm.md, docs/security.md):
///
/// - the feature version names one of the sampler's own layouts: the aggregator sends no offset;
/// - libjvm.so (device, inode) is mapped executable by the process, as the sampler's own
///   reading of its mappings says;
/// - both statics lie, with the word the walker reads there, in libjvm.so's writable,
///   non-executable data (its mapping or the anonymous `.bss` that continues it), as
///   `PROCMAP_QUERY` says now.
package final class HotSpotLoader {
    package struct Counters: Equatable {
        package var processesLoaded: UInt64 = 0
        package var processesRejected: UInt64 = 0
        /// Method records not streamed (no live stream): the walker sends each again.
        package var methodRecordsLost: UInt64 = 0
    }

    /// nil: interpreter frames are off (`--no-interpreter-frames`), every record is refused.
    private let storage: HotSpotMapStorage?
    /// The sampler's layouts by feature version: the index is the walker's layout index.
    private let layoutIndexes: [UInt32: UInt32]
    private var loaded: [Int32: HotSpotProcess] = [:]
    private var generation: UInt64 = 0
    package private(set) var counters = Counters()
    /// Why the last record was refused, for the stop log.
    package private(set) var lastRejection: String?

    package init(storage: HotSpotMapStorage?, layouts: [HotSpotLayout] = HotSpotLayout.supported) {
        self.storage = storage
        var indexes: [UInt32: UInt32] = [:]
        for (index, layout) in layouts.enumerated() { indexes[UInt32(layout.featureVersion)] = UInt32(index) }
        layoutIndexes = indexes
    }

    /// Applies one record. `executableMappings` are the sampler's mappings of the pid (nil:
    /// unknown process); `mappingHolding` asks the kernel for the mapping holding an address.
    package func apply(_ record: HotSpotProcess, executableMappings: [Mapping]?,
                       mappingHolding: (Int32, UInt64) -> DataMapping?) {
        guard let storage else {
            reject(record.pid, "interpreter frames are off in this sampler (--no-interpreter-frames)")
            return
        }
        if loaded[record.pid] == record { return }
        if let reason = check(record, executableMappings: executableMappings, mappingHolding: mappingHolding) {
            reject(record.pid, reason)
            return
        }
        guard loaded.count < Int(TANDEM_HOTSPOT_MAX_PROCESSES) || loaded[record.pid] != nil else {
            reject(record.pid, "\(TANDEM_HOTSPOT_MAX_PROCESSES) JVM processes are followed already")
            return
        }
        let process = tandem_hotspot_process(code_cache_heaps: record.codeCacheHeapsAddress,
                                             call_stub_return_address: record.callStubReturnAddressAddress,
                                             layout: layoutIndexes[record.featureVersion]!, reserved: 0)
        guard storage.writeProcess(pid: record.pid, process) else {
            reject(record.pid, "the BPF map refused the update")
            return
        }
        loaded[record.pid] = record
        counters.processesLoaded += 1
    }

    private func reject(_ pid: Int32, _ reason: String) {
        counters.processesRejected += 1
        lastRejection = "pid \(pid): \(reason)"
    }

    private func check(_ record: HotSpotProcess, executableMappings: [Mapping]?,
                       mappingHolding: (Int32, UInt64) -> DataMapping?) -> String? {
        guard layoutIndexes[record.featureVersion] != nil else {
            return "JDK \(record.featureVersion) has no layout in this sampler"
        }
        guard let executableMappings else { return "not a process the sampler knows" }
        guard executableMappings.contains(where: { $0.device == record.device && $0.inode == record.inode }) else {
            return "the process maps no executable file with device \(record.device) inode \(record.inode)"
        }
        for address in [record.codeCacheHeapsAddress, record.callStubReturnAddressAddress] {
            let hex = "0x" + String(address, radix: 16)
            guard let data = mappingHolding(record.pid, address) else { return "no mapping holds address \(hex)" }
            guard data.device == record.device, data.inode == record.inode else {
                return "address \(hex) is not in libjvm.so's data"
            }
            guard data.isWritable, !data.isExecutable else { return "address \(hex) is not in a writable data mapping" }
            let (end, overflow) = address.addingReportingOverflow(8)
            guard address >= data.start, !overflow, end <= data.end else { return "the word at \(hex) runs past its mapping" }
        }
        return nil
    }

    /// The process exited or exec'd: its JVM is gone.
    package func remove(pid: Int32) {
        guard loaded.removeValue(forKey: pid) != nil else { return }
        storage?.removeProcess(pid: pid)
    }

    /// A new stream starts: the walker forgets every process and sends every method again.
    package func beginStream() {
        for pid in loaded.keys { storage?.removeProcess(pid: pid) }
        loaded.removeAll()
        generation &+= 1
        storage?.writeStreamGeneration(generation)
    }

    /// The JVM counters of a statistics record: the loader's and the walker's (`counter`
    /// reads the BPF side's counter at an index of bpf/tandem_hotspot.h).
    package func addStatistics(to values: inout StatisticsCounters, counter: (UInt32) -> UInt64) {
        values[.hotspotProcessesLoaded] = counters.processesLoaded
        values[.hotspotProcessesRejected] = counters.processesRejected
        values[.hotspotFrames] = counter(UInt32(TANDEM_COUNTER_HOTSPOT_FRAMES))
        values[.hotspotMethodRecords] = counter(UInt32(TANDEM_COUNTER_HOTSPOT_METHODS))
        values[.hotspotMethodRecordsLost] = counters.methodRecordsLost + counter(UInt32(TANDEM_COUNTER_HOTSPOT_RINGBUF_FULL))
    }

    /// The stop log's "jvm" line: the counters, in wire-code order.
    package func summary(_ statistics: SamplerStatistics) -> String {
        let names: [StatisticsCounter] = [.hotspotProcessesLoaded, .hotspotProcessesRejected, .hotspotFrames,
                                          .hotspotMethodRecords, .hotspotMethodRecordsLost]
        return names.map { "\($0)=\(statistics[$0])" }.joined(separator: " ")
    }

    /// The code record of a ring-buffer record of the code kind, for a live stream; else nil,
    /// and the walker is told to send it again. Counted with the method records.
    package func codeRecord(_ record: UnsafeRawBufferPointer, streamIsLive: Bool) -> HotSpotCodeRecord? {
        if streamIsLive, let code = HotSpotRingRecords.codeRecord(record) { return code }
        counters.methodRecordsLost += 1
        guard record.count >= HotSpotRingRecords.codeRecordSize else { return nil }
        let fields = HotSpotRingRecords.codeFields(of: record)
        storage?.forgetCode(pid: Int32(bitPattern: fields.pid), code: fields.code, fingerprint: fields.fingerprint)
        return nil
    }

    /// The method record of a ring-buffer record, for a live stream; else nil, and the
    /// walker is told to send it again (its entry in the sent set is deleted).
    package func methodRecord(_ record: UnsafeRawBufferPointer, streamIsLive: Bool) -> HotSpotMethodRecord? {
        if streamIsLive, let method = HotSpotRingRecords.methodRecord(record) { return method }
        counters.methodRecordsLost += 1
        guard record.count >= MemoryLayout<tandem_hotspot_method_event_fields>.size else { return nil }
        let fields = HotSpotRingRecords.methodFields(of: record)
        storage?.forgetMethod(pid: Int32(bitPattern: fields.pid), method: fields.method, fingerprint: fields.fingerprint)
        return nil
    }
}
