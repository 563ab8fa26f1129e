import CTandemBPF
import InterpreterLoading
import SystemCalls
import WireFormat

extension PerlLoader: InterpreterLoader {
    /// The loader of the BPF object `object`'s Perl walker; nil: interpreter frames are off.
    package convenience init(object: OpaquePointer?) throws(SystemCallError) {
        self.init(storage: try object.map { object throws(SystemCallError) in try BPFPerlMaps(object: object) })
    }

    package var name: String { "perl" }
    package var stackKind: StackKind { .perl }
    package var walkerObjectName: String { "perl_walker" }
    package var walkerSlot: UInt32 { TANDEM_RUNTIME_PERL.rawValue }
    package var executableNameHint: String { "perl" }
    package var sampleEventKind: UInt32 { TANDEM_EVENT_PERL_SAMPLE.rawValue }
    package var sampleEventSize: Int { PerlRingRecords.sampleRecordSize }
    package var sideEventKind: UInt32 { TANDEM_EVENT_PERL_SUB.rawValue }
    package var sideEventSize: Int { PerlRingRecords.subRecordSize }

    package func appendFrameWords(of event: UnsafeRawBufferPointer, to words: inout [UInt64]) -> UInt32 {
        PerlRingRecords.appendFrameWords(of: event, to: &words).rawValue
    }

    package func sideRecord(_ event: UnsafeRawBufferPointer, streamIsLive: Bool) -> Record? {
        subRecord(event, streamIsLive: streamIsLive).map { .perlSub($0) }
    }

    package func apply(_ record: ControlRecord, mappings: (Int32) -> [Mapping]?) -> Bool {
        guard case .perlProcess(let process) = record else { return false }
        apply(process, executableMappings: mappings(process.pid)) { DataMapping.mapping(holding: $1, pid: $0) }
        return true
    }
}
