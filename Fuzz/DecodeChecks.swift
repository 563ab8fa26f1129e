// The checks both decoder fuzz targets make (DecoderFuzzTarget.swift,
// ControlDecoderFuzzTarget.swift), on what a decoder made of one input.

/// Stops the fuzzer when the input decoded differently fed at once (`whole`) and in
/// chunks (`chunked`), or when the error it stopped at lies outside the input's `size` bytes.
func requireSameDecoding<Record: Equatable, Failure: Equatable>(
    whole: ([Record], Failure?), chunked: ([Record], Failure?), size: Int, offset: (Failure) -> Int
) {
    if whole.0 != chunked.0 || whole.1 != chunked.1 {
        fatalError("chunking changed the result: \(whole.0.count) records, \(String(describing: whole.1)) vs \(chunked.0.count), \(String(describing: chunked.1))")
    }
    if let error = whole.1, offset(error) < 0 || offset(error) > size {
        fatalError("error offset \(offset(error)) outside the input of \(size) bytes")
    }
}
