import CTandemBPF
import PerlLayouts
import WireFormat

/// The walker's ring-buffer records (bpf/tandem_perl.h) turned into stream data. The
/// sampler copies what the walker read; it parses none of it (the aggregator does).
package enum PerlRingRecords {
    /// Smallest records of the two kinds; shorter ones are the walker's bug.
    package static let sampleRecordSize = MemoryLayout<tandem_perl_sample_event>.size
    package static let subRecordSize = MemoryLayout<tandem_perl_sub_event>.size

    /// Appends the Perl frames of a `tandem_perl_sample_event` to `words` as a `perl`
    /// stack (two words a frame); returns the walk's flags.
    package static func appendFrameWords(of record: UnsafeRawBufferPointer, to words: inout [UInt64]) -> PerlWalkFlags {
        let walk = MemoryLayout<tandem_sample_event>.size
        let count = Int(record.loadUnaligned(fromByteOffset: walk, as: UInt32.self))
        let flags = PerlWalkFlags(rawValue: record.loadUnaligned(fromByteOffset: walk + 4, as: UInt32.self))
        // `tandem_perl_walk.frames` follows its two 32-bit fields.
        let frames = walk + 8
        for index in 0..<min(count, Int(TANDEM_PERL_MAX_FRAMES)) {
            let frame = record.loadUnaligned(fromByteOffset: frames + index * MemoryLayout<tandem_perl_frame>.stride,
                                             as: tandem_perl_frame.self)
            let pair = PerlFrame(address: frame.address, fingerprint: frame.fingerprint, line: frame.line,
                                 flags: PerlFrameFlags(rawValue: UInt8(truncatingIfNeeded: frame.flags))).words
            words.append(pair.0)
            words.append(pair.1)
        }
        return flags
    }

    /// The fixed fields of a `tandem_perl_sub_event`.
    package static func subFields(of record: UnsafeRawBufferPointer) -> tandem_perl_sub_event_fields {
        record.loadUnaligned(as: tandem_perl_sub_event_fields.self)
    }

    /// The sub record of a `tandem_perl_sub_event`, or nil when its layout index names no
    /// layout of this sampler. The copies follow the fixed fields, each at its full bound.
    package static func subRecord(_ record: UnsafeRawBufferPointer) -> PerlSubRecord? {
        let fields = subFields(of: record)
        guard PerlLayout.supported.indices.contains(Int(fields.layout)) else { return nil }
        var offset = MemoryLayout<tandem_perl_sub_event_fields>.size
        func copy(_ capacity: Int32, _ count: UInt16) -> [UInt8] {
            defer { offset += Int(capacity) }
            return Array(UnsafeRawBufferPointer(rebasing: record[offset..<offset + Int(min(Int32(count), capacity))]))
        }
        let name = copy(TANDEM_PERL_NAME_BYTES, fields.name_bytes)
        let package = copy(TANDEM_PERL_NAME_BYTES, fields.package_bytes)
        let file = copy(TANDEM_PERL_FILE_BYTES, fields.file_bytes)
        return PerlSubRecord(pid: Int32(bitPattern: fields.pid), address: fields.address, fingerprint: fields.fingerprint,
                             perlVersion: PerlLayout.supported[Int(fields.layout)].version.packed, flags: fields.flags,
                             name: name, package: package, file: file)
    }
}
