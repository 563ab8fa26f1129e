import CTandemBPF
import InterpreterLoading
import SystemCalls
import WireFormat

extension PHPLoader: InterpreterLoader {
    /// The loader of the BPF object `object`'s PHP walker; nil: interpreter frames are off.
    package convenience init(object: OpaquePointer?) throws(SystemCallError) {
        self.init(storage: try object.map { object throws(SystemCallError) in try BPFPHPMaps(object: object) })
    }

    package var name: String { "php" }
    package var stackKind: StackKind { .php }
    package var walkerObjectName: String { "php_walker" }
    package var walkerSlot: UInt32 { TANDEM_RUNTIME_PHP.rawValue }
    package var executableNameHint: String { "php" }
    package var sampleEventKind: UInt32 { TANDEM_EVENT_PHP_SAMPLE.rawValue }
    package var sampleEventSize: Int { PHPRingRecords.sampleRecordSize }
    package var sideEventKind: UInt32 { TANDEM_EVENT_PHP_FUNCTION.rawValue }
    package var sideEventSize: Int { PHPRingRecords.functionRecordSize }

    package func appendFrameWords(of event: UnsafeRawBufferPointer, to words: inout [UInt64]) -> UInt32 {
        PHPRingRecords.appendFrameWords(of: event, to: &words).rawValue
    }

    package func sideRecord(_ event: UnsafeRawBufferPointer, streamIsLive: Bool) -> Record? {
        functionRecord(event, streamIsLive: streamIsLive).map { .phpFunction($0) }
    }

    package func apply(_ record: ControlRecord, mappings: (Int32) -> [Mapping]?) -> Bool {
        guard case .phpProcess(let process) = record else { return false }
        apply(process, executableMappings: mappings(process.pid)) { DataMapping.mapping(holding: $1, pid: $0) }
        return true
    }
}
