import CTandemBPF
import InterpreterLoading
import SystemCalls
import WireFormat

extension CPythonLoader: InterpreterLoader {
    /// The loader of the BPF object `object`'s CPython walker; nil: interpreter frames are off.
    package convenience init(object: OpaquePointer?) throws(SystemCallError) {
        self.init(storage: try object.map { object throws(SystemCallError) in try BPFCPythonMaps(object: object) })
    }

    package var name: String { "cpython" }
    package var stackKind: StackKind { .cpython }
    package var walkerObjectName: String { "cpython_walker" }
    package var walkerSlot: UInt32 { TANDEM_RUNTIME_CPYTHON.rawValue }
    package var executableNameHint: String { "python" }
    package var sampleEventKind: UInt32 { TANDEM_EVENT_CPYTHON_SAMPLE.rawValue }
    package var sampleEventSize: Int { CPythonRingRecords.sampleRecordSize }
    package var sideEventKind: UInt32 { TANDEM_EVENT_CPYTHON_CODE.rawValue }
    package var sideEventSize: Int { CPythonRingRecords.codeRecordSize }

    package func appendFrameWords(of event: UnsafeRawBufferPointer, to words: inout [UInt64]) -> UInt32 {
        CPythonRingRecords.appendFrameWords(of: event, to: &words).rawValue
    }

    package func sideRecord(_ event: UnsafeRawBufferPointer, streamIsLive: Bool) -> Record? {
        codeRecord(event, streamIsLive: streamIsLive).map { .cpythonCode($0) }
    }

    package func apply(_ record: ControlRecord, mappings: (Int32) -> [Mapping]?) -> Bool {
        guard case .cpythonProcess(let process) = record else { return false }
        apply(process, executableMappings: mappings(process.pid)) { DataMapping.mapping(holding: $1, pid: $0) }
        return true
    }
}
