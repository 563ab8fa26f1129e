import CTandemBPF
import V8Layouts
import WireFormat

/// The V8 walker's ring-buffer records (bpf/tandem_v8.h) turned into stream data. The
/// sampler copies what the walker read; it parses none of it (the aggregator does).
package enum V8RingRecords {
    /// Smallest records of the two kinds; shorter ones are the walker's bug.
    package static let sampleRecordSize = MemoryLayout<tandem_v8_sample_event>.size
    package static let functionRecordSize = MemoryLayout<tandem_v8_function_event>.size
    package static let codeRecordSize = MemoryLayout<tandem_v8_code_event>.size

    /// Which side record (`tandem_v8_side_record`) a record of kind 10 is: both start with
    /// kind, pid, record.
    package static func sideRecordKind(of record: UnsafeRawBufferPointer) -> UInt32 {
        record.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
    }

    /// Appends the JavaScript frames of a `tandem_v8_sample_event` to `words` as a `v8`
    /// stack (four words a frame); returns the walk's flags. Read in place.
    package static func appendFrameWords(of record: UnsafeRawBufferPointer, to words: inout [UInt64]) -> V8WalkFlags {
        let walk = MemoryLayout<tandem_sample_event>.size
        let count = Int(record.loadUnaligned(fromByteOffset: walk, as: UInt32.self))
        let flags = V8WalkFlags(rawValue: record.loadUnaligned(fromByteOffset: walk + 4, as: UInt32.self))
        // `tandem_v8_walk.frames` follows its two 32-bit fields.
        let frames = walk + 8
        for index in 0..<min(count, Int(TANDEM_V8_MAX_FRAMES)) {
            let frame = record.loadUnaligned(fromByteOffset: frames + index * MemoryLayout<tandem_v8_frame>.stride,
                                             as: tandem_v8_frame.self)
            words += V8Frame(pc: frame.pc, sharedFunctionInfo: frame.sfi, fingerprint: frame.fingerprint,
                             offset: frame.offset, kind: V8FrameKind(rawValue: frame.kind) ?? .unknown,
                             codeKind: frame.code_kind, flags: V8FrameFlags(rawValue: frame.flags),
                             codeFingerprint: frame.code_fingerprint).words
        }
        return flags
    }

    /// The fixed fields of a `tandem_v8_function_event`.
    package static func functionFields(of record: UnsafeRawBufferPointer) -> tandem_v8_function_event_fields {
        record.loadUnaligned(as: tandem_v8_function_event_fields.self)
    }

    /// The function record of a `tandem_v8_function_event`, or nil when its layout index
    /// names no layout of this sampler. The copies follow the fixed fields, each at its
    /// full bound; they are read by offset.
    package static func functionRecord(_ record: UnsafeRawBufferPointer) -> V8FunctionRecord? {
        let fields = functionFields(of: record)
        guard V8Layout.supported.indices.contains(Int(fields.layout)) else { return nil }
        var offset = MemoryLayout<tandem_v8_function_event_fields>.size
        func copy(_ capacity: Int, _ count: UInt16) -> [UInt8] {
            defer { offset += capacity }
            return Array(UnsafeRawBufferPointer(rebasing: record[offset..<offset + min(Int(count), capacity)]))
        }
        let sfi = copy(Int(TANDEM_V8_SFI_BYTES), fields.sfi_bytes)
        let scope = copy(8 * Int(TANDEM_V8_SCOPE_SLOTS), fields.scope_bytes)
        let name = copy(Int(TANDEM_V8_NAME_BYTES), fields.name_bytes)
        let scriptName = copy(Int(TANDEM_V8_SCRIPT_NAME_BYTES), fields.script_name_bytes)
        let table = copy(Int(TANDEM_V8_BYTECODE_TABLE_BYTES), fields.table_bytes)
        return V8FunctionRecord(pid: Int32(bitPattern: fields.pid), sharedFunctionInfo: fields.sfi,
                                fingerprint: fields.fingerprint, v8Version: V8Layout.supported[Int(fields.layout)].version,
                                flags: fields.flags, nameType: fields.name_type, scriptNameType: fields.script_name_type,
                                sharedFunctionInfoBytes: sfi, scopeInfoSlots: scope, name: name, scriptName: scriptName,
                                bytecodePositionTable: table)
    }

    /// The fixed fields of a `tandem_v8_code_event`; the caller checked the record's size.
    package static func codeFields(of record: UnsafeRawBufferPointer) -> tandem_v8_code_event_fields {
        record.loadUnaligned(as: tandem_v8_code_event_fields.self)
    }

    /// The code record of a `tandem_v8_code_event` (at least `codeRecordSize` bytes), or nil
    /// when its layout index names no layout of this sampler. Read by offset, as functions.
    package static func codeRecord(_ record: UnsafeRawBufferPointer) -> V8CodeRecord? {
        let fields = codeFields(of: record)
        guard V8Layout.supported.indices.contains(Int(fields.layout)) else { return nil }
        var offset = MemoryLayout<tandem_v8_code_event_fields>.size
        let entry = MemoryLayout<tandem_v8_inlined_function>.stride
        let functions = (0..<min(Int(fields.inlined), Int(TANDEM_V8_MAX_INLINED))).map { index in
            let function = record.loadUnaligned(fromByteOffset: offset + index * entry, as: tandem_v8_inlined_function.self)
            return V8InlinedFunction(sharedFunctionInfo: function.sfi, fingerprint: function.fingerprint)
        }
        offset += Int(TANDEM_V8_MAX_INLINED) * entry
        func copy(_ capacity: Int, _ count: UInt16) -> [UInt8] {
            defer { offset += capacity }
            return Array(UnsafeRawBufferPointer(rebasing: record[offset..<offset + min(Int(count), capacity)]))
        }
        let positions = copy(16 * Int(TANDEM_V8_MAX_INLINING_POSITIONS), fields.positions_bytes)
        let table = copy(Int(TANDEM_V8_POSITION_TABLE_BYTES), fields.table_bytes)
        return V8CodeRecord(pid: Int32(bitPattern: fields.pid), instructionStart: fields.instruction_start,
                            fingerprint: fields.fingerprint, v8Version: V8Layout.supported[Int(fields.layout)].version,
                            code: fields.code, instructionSize: fields.instruction_size, codeKind: fields.code_kind,
                            flags: fields.flags, inlinedFunctions: functions, inliningPositions: positions,
                            sourcePositionTable: table)
    }
}
