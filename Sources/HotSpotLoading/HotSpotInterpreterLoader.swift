import CTandemBPF
import InterpreterLoading
import SystemCalls
import WireFormat

extension HotSpotLoader: InterpreterLoader {
    /// The loader of the BPF object `object`'s JVM walker; nil: interpreter frames are off.
    package convenience init(object: OpaquePointer?) throws(SystemCallError) {
        self.init(storage: try object.map { object throws(SystemCallError) in try BPFHotSpotMaps(object: object) })
    }

    package var name: String { "jvm" }
    package var stackKind: StackKind { .hotspot }
    package var walkerObjectName: String { "jvm_walker" }
    package var walkerSlot: UInt32 { TANDEM_RUNTIME_JVM.rawValue }
    package var executableNameHint: String { "java" }
    package var sampleEventKind: UInt32 { UInt32(TANDEM_EVENT_HOTSPOT_SAMPLE) }
    package var sampleEventSize: Int { MemoryLayout<tandem_sample_event>.size + 8 }
    package var sideEventKind: UInt32 { UInt32(TANDEM_EVENT_HOTSPOT_METHOD) }
    package var sideEventSize: Int { HotSpotRingRecords.methodRecordSize }

    package func appendFrameWords(of event: UnsafeRawBufferPointer, to words: inout [UInt64]) -> UInt32 {
        HotSpotRingRecords.appendFrameWords(of: event, sampleSize: MemoryLayout<tandem_sample_event>.size, to: &words)
    }

    package func sideRecord(_ event: UnsafeRawBufferPointer, streamIsLive: Bool) -> Record? {
        guard HotSpotRingRecords.sideRecordKind(of: event) == UInt16(TANDEM_HOTSPOT_RECORD_CODE.rawValue) else {
            return methodRecord(event, streamIsLive: streamIsLive).map { .hotspotMethod($0) }
        }
        return codeRecord(event, streamIsLive: streamIsLive).map { .hotspotCode($0) }
    }

    package func apply(_ record: ControlRecord, mappings: (Int32) -> [Mapping]?) -> Bool {
        guard case .hotspotProcess(let process) = record else { return false }
        apply(process, executableMappings: mappings(process.pid)) { DataMapping.mapping(holding: $1, pid: $0) }
        return true
    }
}
