import CTandemBPF
import InterpreterLoading
import PHPLayouts
import WireFormat

/// Checks the aggregator's PHP process records (control record 29) and hands the walker
/// only what it could check (docs/php.md, docs/security.md):
///
/// - the version names one of the sampler's own layouts: the aggregator sends no offset;
/// - the file (device, inode) is mapped executable by the process, as the sampler's own
///   reading of its mappings says;
/// - `executor_globals`' address lies, with the pointer the walker reads there, in a
///   writable, non-executable mapping of that same file (its data or .bss), as
///   `PROCMAP_QUERY` says now.
///
/// So the walker starts only from a PHP engine's own globals in a process that maps that
/// engine, and follows a chain whose shape is fixed by the layout.
package final class PHPLoader {
    package struct Counters: Equatable {
        package var processesLoaded: UInt64 = 0
        package var processesRejected: UInt64 = 0
        /// Function records not streamed (no live stream): the walker sends each again.
        package var functionRecordsLost: UInt64 = 0
    }

    /// nil: interpreter frames are off (`--no-interpreter-frames`), every record is refused.
    private let storage: PHPMapStorage?
    /// The sampler's layouts, by packed version: the index is the walker's layout index.
    private let layoutIndexes: [UInt32: UInt32]
    /// The layouts, to bound the read of `current_execute_data` in the globals.
    private let layouts: [PHPLayout]
    private var loaded: [Int32: PHPProcess] = [:]
    private var generation: UInt64 = 0
    package private(set) var counters = Counters()
    /// Why the last record was refused, for the stop log.
    package private(set) var lastRejection: String?

    package init(storage: PHPMapStorage?, layouts: [PHPLayout] = PHPLayout.supported) {
        self.storage = storage
        self.layouts = layouts
        var indexes: [UInt32: UInt32] = [:]
        for (index, layout) in layouts.enumerated() { indexes[layout.version.packed] = UInt32(index) }
        layoutIndexes = indexes
    }

    /// Applies one record. `executableMappings` are the sampler's mappings of the pid (nil:
    /// unknown process); `mappingHolding` asks the kernel for the mapping holding an address.
    package func apply(_ record: PHPProcess, executableMappings: [Mapping]?,
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
        guard loaded.count < Int(TANDEM_PHP_MAX_PROCESSES) || loaded[record.pid] != nil else {
            counters.processesRejected += 1
            lastRejection = "pid \(record.pid): \(TANDEM_PHP_MAX_PROCESSES) PHP processes are followed already"
            return
        }
        var process = tandem_php_process()
        process.executor_globals_address = record.executorGlobalsAddress
        process.layout = layoutIndexes[record.phpVersion]!
        if record.stepsOverJIT, let engine = executableMappings?.first(where: { Self.holdsDispatch($0, record) }) {
            process.execute_dispatch = record.executeDispatch
            process.dispatch_cfa_offset = record.dispatchCFAOffset
            process.jit_start = record.jitStart
            process.jit_end = record.jitEnd
            process.engine_start = engine.start
            process.engine_end = engine.end
        }
        guard storage.writeProcess(pid: record.pid, process) else {
            counters.processesRejected += 1
            lastRejection = "pid \(record.pid): the BPF map refused the update"
            return
        }
        loaded[record.pid] = record
        counters.processesLoaded += 1
    }

    private func check(_ record: PHPProcess, executableMappings: [Mapping]?,
                       mappingHolding: (Int32, UInt64) -> DataMapping?) -> String? {
        let address = "0x\(String(record.executorGlobalsAddress, radix: 16))"
        guard let index = layoutIndexes[record.phpVersion] else {
            return "PHP \(record.phpVersion >> 8).\(record.phpVersion & 0xff) has no layout in this sampler"
        }
        guard let executableMappings else { return "not a process the sampler knows" }
        guard executableMappings.contains(where: { $0.device == record.device && $0.inode == record.inode }) else {
            return "the process maps no executable file with device \(record.device) inode \(record.inode)"
        }
        guard let data = mappingHolding(record.pid, record.executorGlobalsAddress) else {
            return "no mapping holds address \(address)"
        }
        guard data.device == record.device, data.inode == record.inode else {
            return "address \(address) is not in the PHP file's mapping"
        }
        guard data.isWritable, !data.isExecutable else { return "address \(address) is not in a writable data mapping" }
        // The pointer the walker reads (current_execute_data, 8 bytes) must lie in that mapping.
        let field = UInt64(layouts[Int(index)].executorCurrentExecuteData)
        let (end, overflow) = record.executorGlobalsAddress.addingReportingOverflow(field + 8)
        guard record.executorGlobalsAddress >= data.start, !overflow, end <= data.end else {
            return "the executor globals at \(address) run past their mapping"
        }
        return record.stepsOverJIT ? checkJIT(record, executableMappings: executableMappings) : nil
    }

    /// Whether `mapping`, of the engine's file, holds the dispatch jump (3 bytes).
    private static func holdsDispatch(_ mapping: Mapping, _ record: PHPProcess) -> Bool {
        mapping.device == record.device && mapping.inode == record.inode && mapping.start <= record.executeDispatch
            && record.executeDispatch < mapping.end && mapping.end - record.executeDispatch >= 3
    }

    /// The JIT step's values (docs/php.md, "The JIT"): the dispatch jump in an executable
    /// mapping of the engine's file, a CFA offset a stack frame can have, and a JIT buffer that
    /// is one executable mapping of the process of another file (opcache's shared memory).
    private func checkJIT(_ record: PHPProcess, executableMappings: [Mapping]) -> String? {
        let dispatch = "0x\(String(record.executeDispatch, radix: 16))"
        guard executableMappings.contains(where: { Self.holdsDispatch($0, record) }) else {
            return "the JIT step's dispatch address \(dispatch) is not in the PHP file's executable mapping"
        }
        let offset = record.dispatchCFAOffset
        guard offset >= 16, offset <= 4096, offset % 8 == 0 else {
            return "the JIT step's CFA offset \(offset) is not a stack frame's (16-4096, a multiple of 8)"
        }
        let range = "0x\(String(record.jitStart, radix: 16))-0x\(String(record.jitEnd, radix: 16))"
        guard record.jitStart < record.jitEnd,
              let buffer = executableMappings.first(where: { $0.start <= record.jitStart && record.jitEnd <= $0.end }) else {
            return "the JIT buffer \(range) is not an executable mapping of the process"
        }
        guard buffer.device != record.device || buffer.inode != record.inode else {
            return "the JIT buffer \(range) is the PHP file's own code"
        }
        return nil
    }

    /// The process exited or exec'd: its engine is gone.
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

    /// The PHP counters of a statistics record: the loader's, the walker's (`counter`
    /// reads the BPF side's), and the function records the sampler could not stream.
    package func addStatistics(to values: inout StatisticsCounters, counter: (UInt32) -> UInt64) {
        values[.phpProcessesLoaded] = counters.processesLoaded
        values[.phpProcessesRejected] = counters.processesRejected
        values[.phpWalks] = counter(TANDEM_COUNTER_PHP_WALKS.rawValue)
        values[.phpWalksWithFrames] = counter(TANDEM_COUNTER_PHP_FRAMES_FOUND.rawValue)
        values[.phpFunctionRecordsLost] = counters.functionRecordsLost
            + counter(TANDEM_COUNTER_PHP_FUNCTION_RINGBUF_FULL.rawValue)
        values[.phpJITSteps] = counter(TANDEM_COUNTER_PHP_JIT_STEPS.rawValue)
        values[.phpJITStops] = counter(TANDEM_COUNTER_PHP_JIT_STOPS.rawValue)
    }

    /// The stop log's "php" line: the counters, in wire-code order.
    package func summary(_ statistics: SamplerStatistics) -> String {
        let names: [StatisticsCounter] = [.phpProcessesLoaded, .phpProcessesRejected, .phpWalks,
                                          .phpWalksWithFrames, .phpFunctionRecordsLost, .phpJITSteps, .phpJITStops]
        return names.map { "\($0)=\(statistics[$0])" }.joined(separator: " ")
    }

    /// The function record of a ring-buffer record, for a live stream; else nil, and the
    /// walker is told to send it again (its entry in the sent set is deleted).
    package func functionRecord(_ record: UnsafeRawBufferPointer, streamIsLive: Bool) -> PHPFunctionRecord? {
        if streamIsLive, let function = PHPRingRecords.functionRecord(record) { return function }
        counters.functionRecordsLost += 1
        let fields = PHPRingRecords.functionFields(of: record)
        storage?.forgetFunction(pid: Int32(bitPattern: fields.pid), function: fields.function,
                                fingerprint: fields.fingerprint)
        return nil
    }
}
