import CTandemBPF
import PHPLayouts
import WireFormat

/// The walker's ring-buffer records (bpf/tandem_php.h) turned into stream data. The
/// sampler copies what the walker read; it parses none of it (the aggregator does).
package enum PHPRingRecords {
    /// Smallest records of the two kinds; shorter ones are the walker's bug.
    package static let sampleRecordSize = MemoryLayout<tandem_php_sample_event>.size
    package static let functionRecordSize = MemoryLayout<tandem_php_function_event>.size

    /// Appends the PHP frames of a `tandem_php_sample_event` to `words` as a `php` stack
    /// (two words a frame); returns the walk's flags.
    package static func appendFrameWords(of record: UnsafeRawBufferPointer, to words: inout [UInt64]) -> PHPWalkFlags {
        let walk = MemoryLayout<tandem_sample_event>.size
        let count = Int(record.loadUnaligned(fromByteOffset: walk, as: UInt32.self))
        let flags = PHPWalkFlags(rawValue: record.loadUnaligned(fromByteOffset: walk + 4, as: UInt32.self))
        // `tandem_php_walk.frames` follows its two 32-bit fields.
        let frames = walk + 8
        for index in 0..<min(count, Int(TANDEM_PHP_MAX_FRAMES)) {
            let frame = record.loadUnaligned(fromByteOffset: frames + index * MemoryLayout<tandem_php_frame>.stride,
                                             as: tandem_php_frame.self)
            let pair = PHPFrame(function: frame.function, fingerprint: frame.fingerprint, line: frame.line,
                                flags: PHPFrameFlags(rawValue: UInt8(truncatingIfNeeded: frame.flags))).words
            words.append(pair.0)
            words.append(pair.1)
        }
        return flags
    }

    /// The fixed fields of a `tandem_php_function_event`.
    package static func functionFields(of record: UnsafeRawBufferPointer) -> tandem_php_function_event_fields {
        record.loadUnaligned(as: tandem_php_function_event_fields.self)
    }

    /// The function record of a `tandem_php_function_event`, or nil when its layout index
    /// names no layout of this sampler. The copies follow the fixed fields, each at its full bound.
    package static func functionRecord(_ record: UnsafeRawBufferPointer) -> PHPFunctionRecord? {
        let fields = functionFields(of: record)
        guard PHPLayout.supported.indices.contains(Int(fields.layout)) else { return nil }
        var offset = MemoryLayout<tandem_php_function_event_fields>.size
        func copy(_ capacity: Int32, _ count: UInt16) -> [UInt8] {
            defer { offset += Int(capacity) }
            return Array(UnsafeRawBufferPointer(rebasing: record[offset..<offset + Int(min(Int32(count), capacity))]))
        }
        let name = copy(TANDEM_PHP_NAME_BYTES, fields.name_bytes)
        let className = copy(TANDEM_PHP_CLASS_BYTES, fields.class_bytes)
        let file = copy(TANDEM_PHP_FILE_BYTES, fields.file_bytes)
        return PHPFunctionRecord(pid: Int32(bitPattern: fields.pid), function: fields.function,
                                 fingerprint: fields.fingerprint,
                                 phpVersion: PHPLayout.supported[Int(fields.layout)].version.packed, flags: fields.flags,
                                 type: fields.type, hasName: fields.has_name != 0, hasClass: fields.has_class != 0,
                                 lineStart: fields.line_start, name: name, className: className, file: file)
    }
}
