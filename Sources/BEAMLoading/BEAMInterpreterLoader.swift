import CTandemBPF
import InterpreterLoading
import SystemCalls
import WireFormat

extension BEAMLoader: InterpreterLoader {
    /// The loader of the BPF object `object`'s BEAM walker; nil: interpreter frames are off.
    package convenience init(object: OpaquePointer?) throws(SystemCallError) {
        self.init(storage: try object.map { object throws(SystemCallError) in try BPFBEAMMaps(object: object) })
    }

    package var name: String { "beam" }
    package var stackKind: StackKind { .beam }
    package var walkerObjectName: String { "beam_walker" }
    package var walkerSlot: UInt32 { TANDEM_RUNTIME_BEAM.rawValue }
    package var executableNameHint: String { "beam.smp" }
    package var sampleEventKind: UInt32 { TANDEM_EVENT_BEAM_SAMPLE.rawValue }
    package var sampleEventSize: Int { BEAMRingRecords.sampleRecordSize }
    package var sideEventKind: UInt32 { TANDEM_EVENT_BEAM_FUNCTION.rawValue }
    package var sideEventSize: Int { BEAMRingRecords.functionRecordSize }

    package func appendFrameWords(of event: UnsafeRawBufferPointer, to words: inout [UInt64]) -> UInt32 {
        BEAMRingRecords.appendFrameWords(of: event, to: &words).rawValue
    }

    package func sideRecord(_ event: UnsafeRawBufferPointer, streamIsLive: Bool) -> Record? {
        functionRecord(event, streamIsLive: streamIsLive).map { .beamFunction($0) }
    }

    package func apply(_ record: ControlRecord, mappings: (Int32) -> [Mapping]?) -> Bool {
        guard case .beamProcess(let process) = record else { return false }
        apply(process, executableMappings: mappings(process.pid)) { DataMapping.mapping(holding: $1, pid: $0) }
        return true
    }
}
