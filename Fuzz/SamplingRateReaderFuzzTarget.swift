// libFuzzer target for SamplingRateReader, the YAML subset tandem-sampler reads as root
// (see scripts/fuzz-sampling-rate-reader.sh, which builds it with WireFormat as a module).
//
// Any trap, sanitizer report, timeout or memory blow-up is a finding. Beyond "no crash",
// it checks what the reader promises: a rate it returns is in SamplingRate.range, an
// off-CPU threshold is in [0, 1], a
// refusal names the file and a fix, and the same bytes give the same answer with CRLF
// line ends and after a comment line is added at the top.
import WireFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSamplingRateReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let answer = read(bytes)
    if case .success(let settings) = answer {
        if let rate = settings.samplesPerSecond, !SamplingRate.range.contains(rate) {
            fatalError("rate \(rate) outside \(SamplingRate.range)")
        }
        if let share = settings.offCPUThreshold, !(share >= 0 && share <= 1) {
            fatalError("off-CPU threshold \(share) outside [0, 1]")
        }
    }
    if case .failure(let problem) = answer, !problem.description.hasPrefix("fuzz.yml"), problem.fix.isEmpty {
        fatalError("a refusal without the file or a fix: \(problem)")
    }
    // The same document with CRLF line ends reads the same (YAML treats both as line breaks),
    // unless the input already holds a CR the reader refuses.
    if !bytes.contains(UInt8(ascii: "\r")) {
        var crlf: [UInt8] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") { crlf.append(UInt8(ascii: "\r")) }
            crlf.append(byte)
        }
        if crlf.count <= SamplingRateReader.maximumBytes, outcome(answer) != outcome(read(crlf)) {
            fatalError("CRLF line ends changed the answer")
        }
    }
    // A leading comment line changes no key, only the line numbers.
    if !bytes.starts(with: [0xEF, 0xBB, 0xBF]), bytes.count + 2 <= SamplingRateReader.maximumBytes {
        let commented = Array("#\n".utf8) + bytes
        if outcome(answer) != outcome(read(commented)) {
            fatalError("a leading comment changed the answer")
        }
    }
    return 0
}

func read(_ bytes: [UInt8]) -> Result<SamplingRateReader.Settings, SamplingRateReader.Problem> {
    Result { () throws(SamplingRateReader.Problem) in try SamplingRateReader.settings(in: bytes, path: "fuzz.yml") }
}

/// The settings, or that they were refused: what must not change.
func outcome(_ result: Result<SamplingRateReader.Settings, SamplingRateReader.Problem>) -> SamplingRateReader.Settings? {
    switch result {
    case .success(let settings): settings
    case .failure: nil
    }
}
