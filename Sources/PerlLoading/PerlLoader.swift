import CTandemBPF
import InterpreterLoading
import PerlLayouts
import WireFormat

/// Checks the aggregator's Perl process records (control record 25) and hands the walker
/// only what it could check (docs/perl.md, docs/security.md):
///
/// - the release names one of the sampler's own layouts: the aggregator sends no offset;
/// - the file (device, inode) is mapped executable by the process, as the sampler's own
///   reading of its mappings says;
/// - the thread key's address lies, with its 4 bytes, in a writable, non-executable
///   mapping of that same file (its data or .bss), as `PROCMAP_QUERY` says now.
///
/// So the walker starts only from a perl's own thread key in a process that maps that
/// perl, and follows a chain whose shape is fixed by the layout.
package final class PerlLoader {
    package struct Counters: Equatable {
        package var processesLoaded: UInt64 = 0
        package var processesRejected: UInt64 = 0
        /// Sub records not streamed (no live stream): the walker sends each again.
        package var subRecordsLost: UInt64 = 0
    }

    /// nil: interpreter frames are off (`--no-interpreter-frames`), every record is refused.
    private let storage: PerlMapStorage?
    /// The sampler's layouts, by packed release: the index is the walker's layout index.
    private let layoutIndexes: [UInt32: UInt32]
    private var loaded: [Int32: PerlProcess] = [:]
    private var generation: UInt64 = 0
    package private(set) var counters = Counters()
    /// Why the last record was refused, for the stop log.
    package private(set) var lastRejection: String?

    package init(storage: PerlMapStorage?, layouts: [PerlLayout] = PerlLayout.supported) {
        self.storage = storage
        var indexes: [UInt32: UInt32] = [:]
        for (index, layout) in layouts.enumerated() { indexes[layout.version.packed] = UInt32(index) }
        layoutIndexes = indexes
    }

    /// Applies one record. `executableMappings` are the sampler's mappings of the pid (nil:
    /// unknown process); `mappingHolding` asks the kernel for the mapping holding an address.
    package func apply(_ record: PerlProcess, executableMappings: [Mapping]?,
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
        guard loaded.count < Int(TANDEM_PERL_MAX_PROCESSES) || loaded[record.pid] != nil else {
            counters.processesRejected += 1
            lastRejection = "pid \(record.pid): \(TANDEM_PERL_MAX_PROCESSES) Perl processes are followed already"
            return
        }
        let process = tandem_perl_process(thread_key_address: record.threadKeyAddress,
                                          layout: layoutIndexes[record.perlVersion]!, reserved: 0)
        guard storage.writeProcess(pid: record.pid, process) else {
            counters.processesRejected += 1
            lastRejection = "pid \(record.pid): the BPF map refused the update"
            return
        }
        loaded[record.pid] = record
        counters.processesLoaded += 1
    }

    private func check(_ record: PerlProcess, executableMappings: [Mapping]?,
                       mappingHolding: (Int32, UInt64) -> DataMapping?) -> String? {
        let address = "0x\(String(record.threadKeyAddress, radix: 16))"
        guard layoutIndexes[record.perlVersion] != nil else {
            return "perl \(record.perlVersion >> 16).\(record.perlVersion >> 8 & 0xff).\(record.perlVersion & 0xff) has no layout in this sampler"
        }
        guard let executableMappings else { return "not a process the sampler knows" }
        guard executableMappings.contains(where: { $0.device == record.device && $0.inode == record.inode }) else {
            return "the process maps no executable file with device \(record.device) inode \(record.inode)"
        }
        guard let data = mappingHolding(record.pid, record.threadKeyAddress) else {
            return "no mapping holds address \(address)"
        }
        guard data.device == record.device, data.inode == record.inode else {
            return "address \(address) is not in the perl file's mapping"
        }
        guard data.isWritable, !data.isExecutable else { return "address \(address) is not in a writable data mapping" }
        // The key (a pthread_key_t, 4 bytes) must lie in that mapping.
        let (end, overflow) = record.threadKeyAddress.addingReportingOverflow(4)
        guard record.threadKeyAddress >= data.start, !overflow, end <= data.end else {
            return "the thread key at \(address) runs past its mapping"
        }
        return nil
    }

    /// The process exited or exec'd: its interpreter is gone.
    package func remove(pid: Int32) {
        guard loaded.removeValue(forKey: pid) != nil else { return }
        storage?.removeProcess(pid: pid)
    }

    /// A new stream starts: the walker forgets every process (the new connection's
    /// aggregator sends its own records) and sends every sub again.
    package func beginStream() {
        for pid in loaded.keys { storage?.removeProcess(pid: pid) }
        loaded.removeAll()
        generation &+= 1
        storage?.writeStreamGeneration(generation)
    }

    /// The Perl counters of a statistics record: the loader's, the walker's (`counter`
    /// reads the BPF side's), and the sub records the sampler could not stream.
    package func addStatistics(to values: inout StatisticsCounters, counter: (UInt32) -> UInt64) {
        values[.perlProcessesLoaded] = counters.processesLoaded
        values[.perlProcessesRejected] = counters.processesRejected
        values[.perlWalks] = counter(TANDEM_COUNTER_PERL_WALKS.rawValue)
        values[.perlWalksWithFrames] = counter(TANDEM_COUNTER_PERL_FRAMES_FOUND.rawValue)
        values[.perlSubRecordsLost] = counters.subRecordsLost + counter(TANDEM_COUNTER_PERL_SUB_RINGBUF_FULL.rawValue)
    }

    /// The stop log's "perl" line: the counters, in wire-code order.
    package func summary(_ statistics: SamplerStatistics) -> String {
        let names: [StatisticsCounter] = [.perlProcessesLoaded, .perlProcessesRejected, .perlWalks,
                                          .perlWalksWithFrames, .perlSubRecordsLost]
        return names.map { "\($0)=\(statistics[$0])" }.joined(separator: " ")
    }

    /// The sub record of a ring-buffer record, for a live stream; else nil, and the
    /// walker is told to send it again (its entry in the sent set is deleted).
    package func subRecord(_ record: UnsafeRawBufferPointer, streamIsLive: Bool) -> PerlSubRecord? {
        if streamIsLive, let sub = PerlRingRecords.subRecord(record) { return sub }
        counters.subRecordsLost += 1
        let fields = PerlRingRecords.subFields(of: record)
        storage?.forgetSub(pid: Int32(bitPattern: fields.pid), address: fields.address, fingerprint: fields.fingerprint)
        return nil
    }
}
