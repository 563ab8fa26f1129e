import CTandemBPF
import InterpreterLoading
import SystemCalls
import WireFormat

extension V8Loader: InterpreterLoader {
    /// The loader of the BPF object `object`'s V8 walker; nil: interpreter frames are off.
    package convenience init(object: OpaquePointer?) throws(SystemCallError) {
        self.init(storage: try object.map { object throws(SystemCallError) in try BPFV8Maps(object: object) })
    }

    package var name: String { "v8" }
    package var stackKind: StackKind { .v8 }
    package var walkerObjectName: String { "v8_walker" }
    package var walkerSlot: UInt32 { TANDEM_RUNTIME_V8.rawValue }
    package var executableNameHint: String { "node" }
    package var sampleEventKind: UInt32 { TANDEM_EVENT_V8_SAMPLE.rawValue }
    package var sampleEventSize: Int { V8RingRecords.sampleRecordSize }
    package var sideEventKind: UInt32 { TANDEM_EVENT_V8_FUNCTION.rawValue }
    package var sideEventSize: Int { V8RingRecords.functionRecordSize }

    package func appendFrameWords(of event: UnsafeRawBufferPointer, to words: inout [UInt64]) -> UInt32 {
        V8RingRecords.appendFrameWords(of: event, to: &words).rawValue
    }

    package func apply(_ record: ControlRecord, mappings: (Int32) -> [Mapping]?) -> Bool {
        guard case .v8Process(let process) = record else { return false }
        apply(process, executableMappings: mappings(process.pid)) { DataMapping.mapping(holding: $1, pid: $0) }
        return true
    }
}
