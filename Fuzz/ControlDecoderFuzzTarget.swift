// libFuzzer target for ControlDecoder (see scripts/fuzz-decoder.sh): the decoder the
// privileged sampler runs on what the aggregator sends, so the aggregator is the
// attacker. Built with the WireFormat sources directly:
//   swiftc -sanitize=fuzzer,address -parse-as-library -O -package-name tandem Sources/WireFormat/*.swift Fuzz/DecodeChecks.swift Fuzz/ControlDecoderFuzzTarget.swift
//
// Any trap, sanitizer report or memory blow-up is a finding. Beyond "no crash", it
// checks that chunking never changes the result, and that what was decoded encodes
// back to bytes that decode to the same records (encoder and decoder agree).

/// Decodes `bytes` in chunks of `chunkSize`, draining after each.
func decodeControl(
    _ bytes: UnsafeBufferPointer<UInt8>, chunkSize: Int, limits: ControlDecoderLimits
) -> ([ControlRecord], ControlStreamError?) {
    var decoder = ControlDecoder(limits: limits)
    var records: [ControlRecord] = []
    var index = 0
    do {
        while index < bytes.count {
            let end = min(bytes.count, index + chunkSize)
            decoder.feed(bytes[index..<end])
            while let record = try decoder.next() {
                records.append(record)
            }
            index = end
        }
    } catch {
        return (records, error)
    }
    return (records, nil)
}

/// Small limits, so that short inputs reach the limit checks too.
let smallControlLimits = ControlDecoderLimits(maximumRecordLength: 256, maximumTableBytes: 64, maximumMappings: 4)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let whole = decodeControl(bytes, chunkSize: max(1, size), limits: .default)
    let chunked = decodeControl(bytes, chunkSize: 1 + size % 7, limits: .default)
    requireSameDecoding(whole: whole, chunked: chunked, size: size, offset: \.offset)
    var encoder = ControlEncoder()
    let encoded = whole.0.flatMap { encoder.encode($0) }
    let again = encoded.withUnsafeBufferPointer { decodeControl($0, chunkSize: max(1, $0.count), limits: .default) }
    if again.0 != whole.0 || again.1 != nil {
        fatalError("re-encoded records decode differently: \(whole.0.count) records vs \(again.0.count), \(String(describing: again.1))")
    }
    _ = decodeControl(bytes, chunkSize: 3, limits: smallControlLimits)
    return 0
}
