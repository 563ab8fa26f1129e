// libFuzzer target for StreamDecoder (see scripts/fuzz-decoder.sh). Built with the
// StreamDecoding sources and Fuzz/DecodeChecks.swift, over WireFormat built as a module.
//
// Any trap, sanitizer report or memory blow-up is a finding. Beyond "no
// crash", it checks that chunking never changes the result: the input fed at
// once and fed in small chunks must decode to the same records and error.

import WireFormat

/// Decodes `bytes` in chunks of `chunkSize`, draining after each.
func decode(_ bytes: UnsafeBufferPointer<UInt8>, chunkSize: Int, limits: DecoderLimits) -> ([Record], WireFormatError?) {
    var decoder = StreamDecoder(limits: limits)
    var records: [Record] = []
    var index = 0
    do {
        while index < bytes.count {
            let end = min(bytes.count, index + chunkSize)
            decoder.feed(bytes[index..<end])
            while let record = try decoder.next() {
                records.append(record)
                // A definition must be retrievable by its id once yielded.
                if case .stackDefinition(let definition) = record, decoder.stack(definition.id) != definition {
                    fatalError("stack \(definition.id) not retrievable after its definition")
                }
            }
            index = end
        }
        try decoder.finish()
    } catch {
        return (records, error)
    }
    return (records, nil)
}

/// Small limits, so that short inputs reach the limit checks too.
let smallLimits = DecoderLimits(maximumRecordLength: 512, maximumStringLength: 16, maximumFramesPerStack: 8,
                                maximumStacks: 4, maximumInternedFrames: 20, maximumThreads: 3, maximumListLength: 4)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let whole = decode(bytes, chunkSize: max(1, size), limits: .default)
    let chunked = decode(bytes, chunkSize: 1 + size % 7, limits: .default)
    requireSameDecoding(whole: whole, chunked: chunked, size: size, offset: \.offset)
    _ = decode(bytes, chunkSize: 3, limits: smallLimits)
    return 0
}
