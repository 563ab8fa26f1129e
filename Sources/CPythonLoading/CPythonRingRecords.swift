import CPythonLayouts
import CTandemBPF
import WireFormat

/// The walker's ring-buffer records (bpf/tandem_cpython.h) turned into stream data. The
/// sampler copies what the walker read; it parses none of it (the aggregator does).
package enum CPythonRingRecords {
    /// Smallest records of the two kinds; shorter ones are the walker's bug.
    package static let sampleRecordSize = MemoryLayout<tandem_cpython_sample_event>.size
    package static let codeRecordSize = MemoryLayout<tandem_cpython_code_event>.size

    /// Appends the Python frames of a `tandem_cpython_sample_event` to `words` as a
    /// `cpython` stack (two words a frame); returns the walk's flags. Read in place: the
    /// frames array is 96 structs long.
    package static func appendFrameWords(of record: UnsafeRawBufferPointer, to words: inout [UInt64]) -> CPythonWalkFlags {
        let walk = MemoryLayout<tandem_sample_event>.size
        let count = Int(record.loadUnaligned(fromByteOffset: walk, as: UInt32.self))
        let flags = CPythonWalkFlags(rawValue: record.loadUnaligned(fromByteOffset: walk + 4, as: UInt32.self))
        // `tandem_cpython_walk.frames` follows its two 32-bit fields.
        let frames = walk + 8
        for index in 0..<min(count, Int(TANDEM_CPYTHON_MAX_FRAMES)) {
            let frame = record.loadUnaligned(fromByteOffset: frames + index * MemoryLayout<tandem_cpython_frame>.stride,
                                             as: tandem_cpython_frame.self)
            let pair = CPythonFrame(code: frame.code, fingerprint: frame.fingerprint, instruction: frame.instruction,
                                    flags: CPythonFrameFlags(rawValue: UInt8(truncatingIfNeeded: frame.flags))).words
            words.append(pair.0)
            words.append(pair.1)
        }
        return flags
    }

    /// The fixed fields of a `tandem_cpython_code_event`.
    package static func codeFields(of record: UnsafeRawBufferPointer) -> tandem_cpython_code_event_fields {
        record.loadUnaligned(as: tandem_cpython_code_event_fields.self)
    }

    /// The code record of a `tandem_cpython_code_event`, or nil when its layout index names
    /// no layout of this sampler. The copies follow the fixed fields, each at its full
    /// bound; Swift does not import C arrays this long, so they are read by offset.
    package static func codeRecord(_ record: UnsafeRawBufferPointer) -> CPythonCodeRecord? {
        let fields = codeFields(of: record)
        guard CPythonLayout.supported.indices.contains(Int(fields.layout)) else { return nil }
        var offset = MemoryLayout<tandem_cpython_code_event_fields>.size
        func copy(_ capacity: Int32, _ count: UInt16) -> [UInt8] {
            defer { offset += Int(capacity) }
            return Array(UnsafeRawBufferPointer(rebasing: record[offset..<offset + Int(min(Int32(count), capacity))]))
        }
        let header = copy(TANDEM_CPYTHON_CODE_BYTES, fields.header_bytes)
        let name = copy(TANDEM_CPYTHON_NAME_BYTES, fields.name_bytes)
        let qualifiedName = copy(TANDEM_CPYTHON_NAME_BYTES, fields.qualname_bytes)
        let fileName = copy(TANDEM_CPYTHON_FILE_BYTES, fields.file_bytes)
        let lineTable = copy(TANDEM_CPYTHON_LINE_TABLE_BYTES, fields.line_table_bytes)
        return CPythonCodeRecord(pid: Int32(bitPattern: fields.pid), code: fields.code, fingerprint: fields.fingerprint,
                                 pythonVersion: CPythonLayout.supported[Int(fields.layout)].version.packed,
                                 flags: fields.flags, header: header, name: name, qualifiedName: qualifiedName,
                                 fileName: fileName, lineTable: lineTable)
    }
}
