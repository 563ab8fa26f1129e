import CTandemBPF
import InterpreterLoading
import SystemCalls
import WireFormat

extension RubyLoader: InterpreterLoader {
    /// The loader of the BPF object `object`'s Ruby walker; nil: interpreter frames are off.
    package convenience init(object: OpaquePointer?) throws(SystemCallError) {
        self.init(storage: try object.map { object throws(SystemCallError) in try BPFRubyMaps(object: object) })
    }

    package var name: String { "ruby" }
    package var stackKind: StackKind { .ruby }
    package var walkerObjectName: String { "ruby_walker" }
    package var walkerSlot: UInt32 { TANDEM_RUNTIME_RUBY.rawValue }
    package var executableNameHint: String { "ruby" }
    package var sampleEventKind: UInt32 { TANDEM_EVENT_RUBY_SAMPLE.rawValue }
    package var sampleEventSize: Int { RubyRingRecords.sampleRecordSize }
    package var sideEventKind: UInt32 { TANDEM_EVENT_RUBY_ISEQ.rawValue }
    package var sideEventSize: Int { RubyRingRecords.iseqRecordSize }

    package func appendFrameWords(of event: UnsafeRawBufferPointer, to words: inout [UInt64]) -> UInt32 {
        RubyRingRecords.appendFrameWords(of: event, to: &words).rawValue
    }

    package func sideRecord(_ event: UnsafeRawBufferPointer, streamIsLive: Bool) -> Record? {
        iseqRecord(event, streamIsLive: streamIsLive).map { .rubyISeq($0) }
    }

    package func apply(_ record: ControlRecord, mappings: (Int32) -> [Mapping]?) -> Bool {
        guard case .rubyProcess(let process) = record else { return false }
        apply(process, executableMappings: mappings(process.pid)) { DataMapping.mapping(holding: $1, pid: $0) }
        return true
    }
}
