import InterpreterLoading
import CTandemBPF
import RubyLayouts
import WireFormat

/// Where the Ruby walker's state goes: the BPF maps (`BPFRubyMaps`), or a test's memory.
package protocol RubyMapStorage: AnyObject {
    func writeProcess(pid: Int32, _ process: tandem_ruby_process) -> Bool
    func removeProcess(pid: Int32)
    func writeStreamGeneration(_ generation: UInt64)
    func forgetISeq(pid: Int32, iseq: UInt64, fingerprint: UInt32)
}

/// Checks the aggregator's Ruby process records (control record 27) and hands the walker
/// only what it could check (docs/ruby.md, docs/security.md):
///
/// - the version names one of the sampler's own layouts: the aggregator sends no struct offset;
/// - the file (device, inode) is mapped executable by the process, as the sampler's own
///   reading of its mappings says;
/// - the module-id word lies, all 8 bytes, in a non-executable mapping of that same file
///   (its GOT), as `PROCMAP_QUERY` says now;
/// - the TLS offset is 8-aligned and within `TANDEM_RUBY_MAX_TLS_OFFSET`;
/// - the symbol table (`ruby_global_symbols`, when sent: 0 leaves C methods out) lies, every
///   byte the walker reads there (`RubyLayout.symbolsBytes`), in a writable, non-executable
///   mapping of that same file (its .data or .bss).
///
/// So the walker reads the module id from the VM file's own data and the execution context
/// from the sampled thread's own TLS block, and follows a chain whose shape the layout fixes.
package final class RubyLoader {
    package struct Counters: Equatable {
        package var processesLoaded: UInt64 = 0
        package var processesRejected: UInt64 = 0
        /// Iseq records not streamed (no live stream): the walker sends each again.
        package var iseqRecordsLost: UInt64 = 0
    }

    /// nil: interpreter frames are off (`--no-interpreter-frames`), every record is refused.
    private let storage: RubyMapStorage?
    private let layoutIndexes: [UInt32: UInt32]
    private let layouts: [RubyLayout]
    private var loaded: [Int32: RubyProcess] = [:]
    private var generation: UInt64 = 0
    package private(set) var counters = Counters()
    /// Why the last record was refused, for the stop log.
    package private(set) var lastRejection: String?

    /// `layouts[i]` is at index i of `ruby_layouts` (`BPFRubyMaps` wrote them).
    package init(storage: RubyMapStorage?, layouts: [RubyLayout] = RubyLayout.supported) {
        self.storage = storage
        var indexes: [UInt32: UInt32] = [:]
        for (index, layout) in layouts.enumerated() { indexes[layout.version.packed] = UInt32(index) }
        layoutIndexes = indexes
        self.layouts = layouts
    }

    /// Applies one record. `executableMappings` are the sampler's mappings of the pid (nil:
    /// unknown process); `mappingHolding` asks the kernel for the mapping holding an address.
    package func apply(_ record: RubyProcess, executableMappings: [Mapping]?,
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
        guard loaded.count < Int(TANDEM_RUBY_MAX_PROCESSES) || loaded[record.pid] != nil else {
            counters.processesRejected += 1
            lastRejection = "pid \(record.pid): \(TANDEM_RUBY_MAX_PROCESSES) Ruby processes are followed already"
            return
        }
        let process = tandem_ruby_process(tls_module_slot: record.moduleSlotAddress, tls_offset: UInt32(record.tlsOffset),
                                          layout: layoutIndexes[record.rubyVersion]!,
                                          global_symbols: record.globalSymbolsAddress)
        guard storage.writeProcess(pid: record.pid, process) else {
            counters.processesRejected += 1
            lastRejection = "pid \(record.pid): the BPF map refused the update"
            return
        }
        loaded[record.pid] = record
        counters.processesLoaded += 1
    }

    private func check(_ record: RubyProcess, executableMappings: [Mapping]?,
                       mappingHolding: (Int32, UInt64) -> DataMapping?) -> String? {
        guard layoutIndexes[record.rubyVersion] != nil else {
            return "Ruby \(record.rubyVersion >> 8).\(record.rubyVersion & 0xff) has no layout in this sampler"
        }
        guard record.tlsOffset <= UInt64(TANDEM_RUBY_MAX_TLS_OFFSET), record.tlsOffset % 8 == 0 else {
            return "TLS offset \(record.tlsOffset) is not an 8-aligned offset within \(TANDEM_RUBY_MAX_TLS_OFFSET)"
        }
        guard let executableMappings else { return "not a process the sampler knows" }
        guard executableMappings.contains(where: { $0.device == record.device && $0.inode == record.inode }) else {
            return "the process maps no executable file with device \(record.device) inode \(record.inode)"
        }
        let slot = record.moduleSlotAddress
        guard let data = mappingHolding(record.pid, slot) else {
            return "no mapping holds address 0x\(String(slot, radix: 16))"
        }
        guard data.device == record.device, data.inode == record.inode, !data.isExecutable else {
            return "address 0x\(String(slot, radix: 16)) is not in a data mapping of the VM's file"
        }
        let (end, overflow) = slot.addingReportingOverflow(8)
        guard slot >= data.start, !overflow, end <= data.end else {
            return "the module id word at 0x\(String(slot, radix: 16)) runs past its mapping"
        }
        return checkSymbolTable(record, mappingHolding: mappingHolding)
    }

    /// The walker reads `symbolsBytes` bytes at `globalSymbolsAddress`: all in the VM file's writable data.
    private func checkSymbolTable(_ record: RubyProcess, mappingHolding: (Int32, UInt64) -> DataMapping?) -> String? {
        let symbols = record.globalSymbolsAddress
        guard symbols != 0 else { return nil }
        let hex = "0x\(String(symbols, radix: 16))"
        let bytes = UInt64(layouts[Int(layoutIndexes[record.rubyVersion]!)].symbolsBytes)
        guard symbols % 8 == 0 else { return "the symbol table address \(hex) is not 8-aligned" }
        guard let data = mappingHolding(record.pid, symbols) else { return "no mapping holds the symbol table address \(hex)" }
        guard data.device == record.device, data.inode == record.inode, data.isWritable, !data.isExecutable else {
            return "the symbol table address \(hex) is not in a writable data mapping of the VM's file"
        }
        let (end, overflow) = symbols.addingReportingOverflow(bytes)
        guard symbols >= data.start, !overflow, end <= data.end else {
            return "the symbol table's \(bytes) bytes at \(hex) run past its mapping"
        }
        return nil
    }

    /// The process exited or exec'd: its VM is gone.
    package func remove(pid: Int32) {
        guard loaded.removeValue(forKey: pid) != nil else { return }
        storage?.removeProcess(pid: pid)
    }

    /// A new stream starts: the walker forgets every process and sends every iseq again.
    package func beginStream() {
        for pid in loaded.keys { storage?.removeProcess(pid: pid) }
        loaded.removeAll()
        generation &+= 1
        storage?.writeStreamGeneration(generation)
    }

    /// The Ruby counters of a statistics record: the loader's and the walker's (`counter`
    /// reads the BPF side's by index).
    package func addStatistics(to values: inout StatisticsCounters, counter: (UInt32) -> UInt64) {
        values[.rubyProcessesLoaded] = counters.processesLoaded
        values[.rubyProcessesRejected] = counters.processesRejected
        values[.rubyWalks] = counter(TANDEM_COUNTER_RUBY_WALKS.rawValue)
        values[.rubyWalksWithFrames] = counter(TANDEM_COUNTER_RUBY_FRAMES_FOUND.rawValue)
        values[.rubyISeqRecordsLost] = counters.iseqRecordsLost + counter(TANDEM_COUNTER_RUBY_ISEQ_RINGBUF_FULL.rawValue)
    }

    /// The stop log's "ruby" line: the counters, in wire-code order, and the iseq records the walker wrote.
    package func summary(_ statistics: SamplerStatistics) -> String {
        let names: [StatisticsCounter] = [.rubyProcessesLoaded, .rubyProcessesRejected, .rubyWalks, .rubyWalksWithFrames,
                                          .rubyISeqRecordsLost]
        return names.map { "\($0)=\(statistics[$0])" }.joined(separator: " ")
    }

    /// The iseq record of a ring-buffer record, for a live stream; else nil, and the walker
    /// is told to send it again (its entry in the sent set is deleted).
    package func iseqRecord(_ record: UnsafeRawBufferPointer, streamIsLive: Bool) -> RubyISeqRecord? {
        if streamIsLive, let iseq = RubyRingRecords.iseqRecord(record) { return iseq }
        counters.iseqRecordsLost += 1
        let fields = RubyRingRecords.iseqFields(of: record)
        storage?.forgetISeq(pid: Int32(bitPattern: fields.pid), iseq: fields.iseq, fingerprint: fields.fingerprint)
        return nil
    }
}
