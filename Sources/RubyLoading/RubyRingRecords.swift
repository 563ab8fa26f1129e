import CTandemBPF
import RubyLayouts
import WireFormat

/// The Ruby walker's ring-buffer records (bpf/tandem_ruby.h) turned into stream data. The
/// sampler copies what the walker read; it parses none of it (the aggregator does).
package enum RubyRingRecords {
    package static let sampleRecordSize = MemoryLayout<tandem_ruby_sample_event>.size
    package static let iseqRecordSize = MemoryLayout<tandem_ruby_iseq_event>.size

    /// Appends the Ruby frames of a `tandem_ruby_sample_event` to `words` as a `ruby` stack
    /// (two words a frame); returns the walk's flags.
    package static func appendFrameWords(of record: UnsafeRawBufferPointer, to words: inout [UInt64]) -> RubyWalkFlags {
        let walk = MemoryLayout<tandem_sample_event>.size
        let count = Int(record.loadUnaligned(fromByteOffset: walk, as: UInt32.self))
        let flags = RubyWalkFlags(rawValue: record.loadUnaligned(fromByteOffset: walk + 4, as: UInt32.self))
        let frames = walk + 8
        for index in 0..<min(count, Int(TANDEM_RUBY_MAX_FRAMES)) {
            let frame = record.loadUnaligned(fromByteOffset: frames + index * MemoryLayout<tandem_ruby_frame>.stride,
                                             as: tandem_ruby_frame.self)
            let pair = RubyFrame(iseq: frame.iseq, fingerprint: frame.fingerprint, position: frame.position,
                                 flags: RubyFrameFlags(rawValue: UInt8(truncatingIfNeeded: frame.flags))).words
            words.append(pair.0)
            words.append(pair.1)
        }
        return flags
    }

    package static func iseqFields(of record: UnsafeRawBufferPointer) -> tandem_ruby_iseq_event_fields {
        record.loadUnaligned(as: tandem_ruby_iseq_event_fields.self)
    }

    /// The iseq record of a `tandem_ruby_iseq_event`, or nil when its layout index names no
    /// layout of this sampler. The copies follow the fixed fields, each at its full bound.
    package static func iseqRecord(_ record: UnsafeRawBufferPointer) -> RubyISeqRecord? {
        guard record.count >= iseqRecordSize else { return nil }
        let fields = iseqFields(of: record)
        guard RubyLayout.supported.indices.contains(Int(fields.layout)) else { return nil }
        var offset = MemoryLayout<tandem_ruby_iseq_event_fields>.size
        func copy(_ capacity: Int32, _ count: UInt16) -> [UInt8] {
            defer { offset += Int(capacity) }
            return Array(UnsafeRawBufferPointer(rebasing: record[offset..<offset + Int(min(Int32(count), capacity))]))
        }
        let body = copy(TANDEM_RUBY_BODY_BYTES, fields.body_bytes)
        let label = copy(TANDEM_RUBY_LABEL_BYTES, fields.label_bytes)
        let path = copy(TANDEM_RUBY_PATH_BYTES, fields.path_bytes)
        let lineEntries = copy(TANDEM_RUBY_LINE_ENTRY_BYTES, fields.line_entry_bytes)
        let succinctTable = copy(TANDEM_RUBY_SUCC_TABLE_BYTES, fields.succ_table_bytes)
        return RubyISeqRecord(pid: Int32(bitPattern: fields.pid), iseq: fields.iseq, fingerprint: fields.fingerprint,
                              rubyVersion: RubyLayout.supported[Int(fields.layout)].version.packed, flags: fields.flags,
                              body: body, label: label, path: path, lineEntries: lineEntries, succinctTable: succinctTable)
    }
}
