import BEAMLayouts
import CTandemBPF
import WireFormat

/// The walker's ring-buffer records (bpf/tandem_beam.h) turned into stream data. The
/// sampler copies what the walker read; it parses none of it (the aggregator does).
package enum BEAMRingRecords {
    /// Smallest records of the two kinds; shorter ones are the walker's bug.
    package static let sampleRecordSize = MemoryLayout<tandem_beam_sample_event>.size
    package static let functionRecordSize = MemoryLayout<tandem_beam_function_event>.size

    /// Appends the Erlang frames of a `tandem_beam_sample_event` to `words` as a `beam` stack
    /// (two words a frame); returns the walk's flags.
    package static func appendFrameWords(of record: UnsafeRawBufferPointer, to words: inout [UInt64]) -> BEAMWalkFlags {
        let walk = MemoryLayout<tandem_sample_event>.size
        let count = Int(record.loadUnaligned(fromByteOffset: walk, as: UInt32.self))
        let flags = BEAMWalkFlags(rawValue: record.loadUnaligned(fromByteOffset: walk + 4, as: UInt32.self))
        // `tandem_beam_walk.frames` follows its two 32-bit fields.
        let frames = walk + 8
        for index in 0..<min(count, Int(TANDEM_BEAM_MAX_FRAMES)) {
            let frame = record.loadUnaligned(fromByteOffset: frames + index * MemoryLayout<tandem_beam_frame>.stride,
                                             as: tandem_beam_frame.self)
            let pair = BEAMFrame(codeInfo: frame.code_info, pc: frame.pc).words
            words.append(pair.0)
            words.append(pair.1)
        }
        return flags
    }

    /// The fixed fields of a `tandem_beam_function_event`.
    package static func functionFields(of record: UnsafeRawBufferPointer) -> tandem_beam_function_event_fields {
        record.loadUnaligned(as: tandem_beam_function_event_fields.self)
    }

    /// The function record of a `tandem_beam_function_event`, or nil when its layout index
    /// names no layout of this sampler. The two names, the line addresses, the locations and
    /// the file name follow the fixed fields, each at its full bound; each is copied as far as
    /// its count says, within that bound.
    package static func functionRecord(_ record: UnsafeRawBufferPointer) -> BEAMFunctionRecord? {
        let fields = functionFields(of: record)
        guard BEAMLayout.supported.indices.contains(Int(fields.layout)) else { return nil }
        let bound = Int(TANDEM_BEAM_ATOM_BYTES)
        let lines = Int(TANDEM_BEAM_MAX_LINES)
        let layout = MemoryLayout<tandem_beam_function_event>.self
        guard let module = layout.offset(of: \.module), let function = layout.offset(of: \.function),
              let addresses = layout.offset(of: \.line_addresses), let locations = layout.offset(of: \.locations),
              let file = layout.offset(of: \.file) else { return nil }
        func copy(_ offset: Int, _ count: Int, bound: Int) -> [UInt8] {
            Array(UnsafeRawBufferPointer(rebasing: record[offset..<offset + min(count, bound)]))
        }
        let lineCount = Int(fields.line_count)
        let locationSize = fields.location_size == 2 ? 2 : 4
        return BEAMFunctionRecord(pid: Int32(bitPattern: fields.pid), codeInfo: fields.code_info, module: fields.module,
                                  function: fields.function, arity: fields.arity,
                                  ertsMajor: UInt32(BEAMLayout.supported[Int(fields.layout)].ertsMajor),
                                  flags: fields.flags, moduleName: copy(module, Int(fields.module_bytes), bound: bound),
                                  functionName: copy(function, Int(fields.function_bytes), bound: bound),
                                  lineAddresses: copy(addresses, lineCount * 8, bound: lines * 8),
                                  locationSize: UInt32(fields.location_size),
                                  locations: copy(locations, lineCount * locationSize, bound: lines * 4),
                                  fileIndex: UInt32(fields.file_index),
                                  fileName: copy(file, Int(fields.file_characters) * 4,
                                                 bound: Int(TANDEM_BEAM_FILE_CHARACTERS) * 4))
    }
}
