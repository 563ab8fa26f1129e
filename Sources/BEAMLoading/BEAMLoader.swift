import BEAMLayouts
import CTandemBPF
import InterpreterLoading
import WireFormat

/// Checks the aggregator's BEAM process records (control record 31) and hands the walker
/// only what it could check (docs/beam.md, docs/security.md):
///
/// - the ERTS major names one of the sampler's own layouts: the aggregator sends no offset;
/// - the file (device, inode) is mapped executable by the process, as the sampler's own
///   reading of its mappings says;
/// - each of the four addresses (`the_active_code_index`, `r`, `erts_atom_table`,
///   `beam_normal_exit`) lies, with every byte the walker reads there, in a writable,
///   non-executable mapping of that same file (its data or .bss), as `PROCMAP_QUERY` says now.
///
/// So the walker starts only from a VM's own globals in a process that maps that VM, and
/// follows pointers whose shape is fixed by the layout.
package final class BEAMLoader {
    package struct Counters: Equatable {
        package var processesLoaded: UInt64 = 0
        package var processesRejected: UInt64 = 0
        /// Function records not streamed (no live stream): the walker sends each again.
        package var functionRecordsLost: UInt64 = 0
    }

    /// nil: interpreter frames are off (`--no-interpreter-frames`), every record is refused.
    private let storage: BEAMMapStorage?
    private let layouts: [BEAMLayout]
    private var loaded: [Int32: BEAMProcess] = [:]
    private var generation: UInt64 = 0
    /// The last VM instance number given (`tandem_beam_process.instance`): each load of a
    /// process gets a new one, so that the walker's sets never serve a pid's new VM with its
    /// predecessor's entries.
    private var lastInstance: UInt32 = 0
    package private(set) var counters = Counters()
    /// Why the last record was refused, for the stop log.
    package private(set) var lastRejection: String?

    package init(storage: BEAMMapStorage?, layouts: [BEAMLayout] = BEAMLayout.supported) {
        self.storage = storage
        self.layouts = layouts
    }

    /// Applies one record. `executableMappings` are the sampler's mappings of the pid (nil:
    /// unknown process); `mappingHolding` asks the kernel for the mapping holding an address.
    package func apply(_ record: BEAMProcess, executableMappings: [Mapping]?,
                       mappingHolding: (Int32, UInt64) -> DataMapping?) {
        guard let storage else {
            reject(record, "interpreter frames are off in this sampler (--no-interpreter-frames)")
            return
        }
        if loaded[record.pid] == record { return }
        let index: Int
        switch check(record, executableMappings: executableMappings, mappingHolding: mappingHolding) {
        case .failure(let reason):
            reject(record, reason.text)
            return
        case .success(let found):
            index = found
        }
        guard loaded.count < Int(TANDEM_BEAM_MAX_PROCESSES) || loaded[record.pid] != nil else {
            reject(record, "\(TANDEM_BEAM_MAX_PROCESSES) BEAM processes are followed already")
            return
        }
        lastInstance = lastInstance == .max ? 1 : lastInstance + 1
        let process = tandem_beam_process(active_code_index_address: record.activeCodeIndexAddress,
                                          ranges_address: record.rangesAddress,
                                          atom_table_address: record.atomTableAddress,
                                          normal_exit_address: record.normalExitAddress,
                                          scheduler_data_address: record.schedulerDataAddress,
                                          scheduler_count_address: record.schedulerCountAddress,
                                          frame_layout_address: record.frameLayoutAddress,
                                          dirty_scheduler_data_address: record.dirtySchedulerDataAddress,
                                          dirty_scheduler_count_address: record.dirtySchedulerCountAddress,
                                          layout: UInt32(index), instance: lastInstance)
        guard storage.writeProcess(pid: record.pid, process) else {
            reject(record, "the BPF map refused the update")
            return
        }
        loaded[record.pid] = record
        counters.processesLoaded += 1
    }

    private func reject(_ record: BEAMProcess, _ reason: String) {
        counters.processesRejected += 1
        lastRejection = "pid \(record.pid): \(reason)"
    }

    private struct Refusal: Error {
        var text: String
    }

    /// The layout's index when every check passes.
    private func check(_ record: BEAMProcess, executableMappings: [Mapping]?,
                       mappingHolding: (Int32, UInt64) -> DataMapping?) -> Result<Int, Refusal> {
        guard let index = layouts.firstIndex(where: { UInt32($0.ertsMajor) == record.ertsMajor }) else {
            return .failure(Refusal(text: "ERTS \(record.ertsMajor) has no layout in this sampler"))
        }
        guard let executableMappings else { return .failure(Refusal(text: "not a process the sampler knows")) }
        guard executableMappings.contains(where: { $0.device == record.device && $0.inode == record.inode }) else {
            return .failure(Refusal(text: "the process maps no executable file with device \(record.device) inode \(record.inode)"))
        }
        let layout = layouts[index]
        // What the walker reads at each address: the 32-bit index, the module tables of every
        // code index, the atom table's segment pointer, the bottom continuation pointer, the
        // pointer to the schedulers' data, their 64-bit count, the 32-bit frame layout, the
        // pointer to the dirty CPU schedulers' data and their 64-bit count.
        let spans: [(name: String, address: UInt64, bytes: UInt64)] = [
            ("the_active_code_index", record.activeCodeIndexAddress, 4),
            ("r", record.rangesAddress, UInt64(layout.rangesSize) * UInt64(layout.codeIndexCount)),
            ("erts_atom_table", record.atomTableAddress, UInt64(layout.indexTableSegments) + 8),
            ("beam_normal_exit", record.normalExitAddress, 8),
            ("erts_aligned_scheduler_data", record.schedulerDataAddress, 8),
            ("erts_no_schedulers", record.schedulerCountAddress, 8),
            ("erts_frame_layout", record.frameLayoutAddress, 4),
            ("erts_aligned_dirty_cpu_scheduler_data", record.dirtySchedulerDataAddress, 8),
            ("erts_no_dirty_cpu_schedulers", record.dirtySchedulerCountAddress, 8),
        ]
        for span in spans {
            let address = "\(span.name) at 0x\(String(span.address, radix: 16))"
            guard let data = mappingHolding(record.pid, span.address) else {
                return .failure(Refusal(text: "no mapping holds \(address)"))
            }
            guard data.device == record.device, data.inode == record.inode else {
                return .failure(Refusal(text: "\(address) is not in the VM file's mapping"))
            }
            guard data.isWritable, !data.isExecutable else {
                return .failure(Refusal(text: "\(address) is not in a writable data mapping"))
            }
            let (end, overflow) = span.address.addingReportingOverflow(span.bytes)
            guard span.address >= data.start, !overflow, end <= data.end else {
                return .failure(Refusal(text: "\(address) runs past its mapping"))
            }
        }
        return .success(index)
    }

    /// The process exited or exec'd: its VM is gone.
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

    /// The BEAM counters of a statistics record: the loader's, the walker's (`counter`
    /// reads the BPF side's), and the function records the sampler could not stream.
    package func addStatistics(to values: inout StatisticsCounters, counter: (UInt32) -> UInt64) {
        values[.beamProcessesLoaded] = counters.processesLoaded
        values[.beamProcessesRejected] = counters.processesRejected
        values[.beamWalks] = counter(TANDEM_COUNTER_BEAM_WALKS.rawValue)
        values[.beamWalksWithFrames] = counter(TANDEM_COUNTER_BEAM_FRAMES_FOUND.rawValue)
        values[.beamCLeafWalks] = counter(TANDEM_COUNTER_BEAM_C_LEAF_WALKS.rawValue)
        values[.beamCLeafWalksWithFrames] = counter(TANDEM_COUNTER_BEAM_C_LEAF_FOUND.rawValue)
        values[.beamCLeafWalksSkipped] = counter(TANDEM_COUNTER_BEAM_C_LEAF_SKIPPED.rawValue)
        values[.beamFunctionRecordsLost] = counters.functionRecordsLost
            + counter(TANDEM_COUNTER_BEAM_FUNCTION_RINGBUF_FULL.rawValue)
    }

    /// The stop log's "beam" line: the counters, in wire-code order.
    package func summary(_ statistics: SamplerStatistics) -> String {
        let names: [StatisticsCounter] = [.beamProcessesLoaded, .beamProcessesRejected, .beamWalks,
                                          .beamWalksWithFrames, .beamFunctionRecordsLost, .beamCLeafWalks,
                                          .beamCLeafWalksWithFrames, .beamCLeafWalksSkipped]
        return names.map { "\($0)=\(statistics[$0])" }.joined(separator: " ")
    }

    /// The function record of a ring-buffer record, for a live stream; else nil, and the
    /// walker is told to send it again (its entry in the sent set is deleted).
    package func functionRecord(_ record: UnsafeRawBufferPointer, streamIsLive: Bool) -> BEAMFunctionRecord? {
        if streamIsLive, let function = BEAMRingRecords.functionRecord(record) { return function }
        counters.functionRecordsLost += 1
        let fields = BEAMRingRecords.functionFields(of: record)
        storage?.forgetFunction(pid: Int32(bitPattern: fields.pid), codeInfo: fields.code_info, instance: fields.instance)
        return nil
    }
}
