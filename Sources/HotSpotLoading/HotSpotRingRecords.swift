import CTandemBPF
import HotSpotLayouts
import WireFormat

/// The JVM walker's ring-buffer records (bpf/tandem_hotspot.h) turned into stream data. The
/// sampler copies what the walker read; it parses none of it (the aggregator does).
package enum HotSpotRingRecords {
    package static let methodRecordSize = MemoryLayout<tandem_hotspot_method_event>.size
    package static let codeRecordSize = MemoryLayout<tandem_hotspot_code_event>.size

    /// Which side record (`tandem_hotspot_side_record`) a record of kind 8 is: both kinds keep
    /// it at byte 38. The caller checked the record holds a method record's fields.
    package static func sideRecordKind(of record: UnsafeRawBufferPointer) -> UInt16 {
        record.loadUnaligned(fromByteOffset: 38, as: UInt16.self)
    }

    /// Appends the Java frames of a hotspot sample record (`struct tandem_sample_event` of
    /// `sampleSize` bytes, then `struct tandem_hotspot_walk`) to `words` as a `hotspot` stack
    /// (two words a frame); returns the walk's flags.
    package static func appendFrameWords(of record: UnsafeRawBufferPointer, sampleSize: Int,
                                         to words: inout [UInt64]) -> UInt32 {
        let walk = sampleSize
        guard record.count >= walk + 8 else { return 0 }
        let count = Int(record.loadUnaligned(fromByteOffset: walk, as: UInt32.self))
        let flags = record.loadUnaligned(fromByteOffset: walk + 4, as: UInt32.self)
        let frames = walk + 8
        let stride = MemoryLayout<tandem_hotspot_frame>.stride
        for index in 0..<min(count, Int(TANDEM_HOTSPOT_MAX_FRAMES)) where frames + (index + 1) * stride <= record.count {
            let frame = record.loadUnaligned(fromByteOffset: frames + index * stride, as: tandem_hotspot_frame.self)
            guard var kind = HotSpotFrame.Kind(rawValue: frame.kind) else { continue }
            var (method, fingerprint) = (frame.method, frame.fingerprint)
            // A compiled frame whose nmethod's code record was sent names the nmethod.
            if kind == .compiled, frame.code != 0, frame.code_fingerprint != 0 {
                (kind, method, fingerprint) = (.compiledCode, frame.code, frame.code_fingerprint)
            }
            let pair = HotSpotFrame(method: method, fingerprint: fingerprint, position: frame.position,
                                    slot: frame.slot, kind: kind).words
            words.append(pair.0)
            words.append(pair.1)
        }
        return flags
    }

    /// The fixed fields of a `tandem_hotspot_method_event`.
    package static func methodFields(of record: UnsafeRawBufferPointer) -> tandem_hotspot_method_event_fields {
        record.loadUnaligned(as: tandem_hotspot_method_event_fields.self)
    }

    /// The fixed fields of a `tandem_hotspot_code_event`; the caller checked the record's size.
    package static func codeFields(of record: UnsafeRawBufferPointer) -> tandem_hotspot_code_event_fields {
        record.loadUnaligned(as: tandem_hotspot_code_event_fields.self)
    }

    /// The code record of a `tandem_hotspot_code_event`, or nil when its layout index names no
    /// layout of this sampler or the record is short. The copies follow the fixed fields,
    /// each at its full bound.
    package static func codeRecord(_ record: UnsafeRawBufferPointer) -> HotSpotCodeRecord? {
        guard record.count >= codeRecordSize else { return nil }
        let fields = codeFields(of: record)
        guard HotSpotLayout.supported.indices.contains(Int(fields.layout)) else { return nil }
        let pcDescs = MemoryLayout<tandem_hotspot_code_event>.offset(of: \.pc_descs)!
        let scopes = MemoryLayout<tandem_hotspot_code_event>.offset(of: \.scopes)!
        let metadata = MemoryLayout<tandem_hotspot_code_event>.offset(of: \.metadata)!
        let fingerprints = MemoryLayout<tandem_hotspot_code_event>.offset(of: \.metadata_fingerprints)!
        let entries = (0..<min(Int(fields.metadata_entries), Int(TANDEM_HOTSPOT_METADATA_ENTRIES))).map { index in
            HotSpotCodeRecord.Metadata(address: record.loadUnaligned(fromByteOffset: metadata + 8 * index, as: UInt64.self),
                                       fingerprint: record.loadUnaligned(fromByteOffset: fingerprints + 4 * index, as: UInt32.self))
        }
        func copy(_ offset: Int, _ capacity: Int32, _ count: UInt16) -> [UInt8] {
            Array(UnsafeRawBufferPointer(rebasing: record[offset..<offset + Int(min(Int32(count), capacity))]))
        }
        return HotSpotCodeRecord(pid: Int32(bitPattern: fields.pid), code: fields.code, fingerprint: fields.fingerprint,
                                 featureVersion: UInt32(HotSpotLayout.supported[Int(fields.layout)].featureVersion),
                                 flags: fields.flags, method: fields.method, methodFingerprint: fields.method_fingerprint,
                                 metadata: entries,
                                 pcDescs: copy(pcDescs, TANDEM_HOTSPOT_PC_DESC_BYTES, fields.pc_desc_bytes),
                                 scopes: copy(scopes, TANDEM_HOTSPOT_SCOPES_BYTES, fields.scopes_bytes))
    }

    /// The method record of a `tandem_hotspot_method_event`, or nil when its layout index
    /// names no layout of this sampler or the record is short. The copies follow the fixed
    /// fields, each at its full bound.
    package static func methodRecord(_ record: UnsafeRawBufferPointer) -> HotSpotMethodRecord? {
        guard record.count >= methodRecordSize else { return nil }
        let fields = methodFields(of: record)
        guard HotSpotLayout.supported.indices.contains(Int(fields.layout)) else { return nil }
        var offset = MemoryLayout<tandem_hotspot_method_event_fields>.size
        func copy(_ capacity: Int32, _ count: UInt16) -> [UInt8] {
            defer { offset += Int(capacity) }
            return Array(UnsafeRawBufferPointer(rebasing: record[offset..<offset + Int(min(Int32(count), capacity))]))
        }
        let constMethod = copy(TANDEM_HOTSPOT_CONST_METHOD_BYTES, fields.const_method_bytes)
        let className = copy(TANDEM_HOTSPOT_SYMBOL_BYTES, fields.class_name_bytes)
        let methodName = copy(TANDEM_HOTSPOT_SYMBOL_BYTES, fields.method_name_bytes)
        let sourceFile = copy(TANDEM_HOTSPOT_SYMBOL_BYTES, fields.source_file_bytes)
        let lineTable = copy(TANDEM_HOTSPOT_LINE_TABLE_BYTES, fields.line_table_bytes)
        return HotSpotMethodRecord(pid: Int32(bitPattern: fields.pid), method: fields.method, fingerprint: fields.fingerprint,
                                   featureVersion: UInt32(HotSpotLayout.supported[Int(fields.layout)].featureVersion),
                                   flags: fields.flags, constMethod: constMethod, className: className,
                                   methodName: methodName, sourceFile: sourceFile, lineTable: lineTable)
    }
}
