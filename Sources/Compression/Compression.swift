import CTandemSnappy
import CTandemZlib

/// A compression step failed inside the C library; carries the call and its status.
public struct CompressionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The C function that failed, e.g. `deflate`.
    public var call: String
    /// Its return code.
    public var code: Int32

    public init(call: String, code: Int32) {
        self.call = call
        self.code = code
    }

    public var description: String { "\(call) failed with status \(code)" }
}

/// gzip (RFC 1952) through zlib's `deflateInit2` with a gzip wrapper.
public enum Gzip {
    public static func compress(_ input: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) throws(CompressionError) -> [UInt8] {
        var stream = z_stream()
        let initStatus = tandem_deflate_init_gzip(&stream, level)
        guard initStatus == Z_OK else { throw CompressionError(call: "deflateInit2", code: initStatus) }
        defer { deflateEnd(&stream) }

        // deflateBound covers the deflate stream; the gzip header and trailer add 18 bytes.
        let capacity = Int(deflateBound(&stream, UInt(input.count))) + 18
        var output = [UInt8](repeating: 0, count: capacity)
        var input = input
        let status = stream.finish(input: &input, output: &output) { deflate($0, Z_FINISH) }
        guard status == Z_STREAM_END else { throw CompressionError(call: "deflate", code: status) }
        output.removeLast(Int(stream.avail_out))
        return output
    }
}

extension z_stream {
    /// Points the stream at all of `input` and `output` and runs `step` (`deflate` or
    /// `inflate` with `Z_FINISH`) once; returns its status. Sizes must fit in 32 bits.
    mutating func finish(input: inout [UInt8], output: inout [UInt8],
                         _ step: (UnsafeMutablePointer<z_stream>) -> Int32) -> Int32 {
        input.withUnsafeMutableBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                next_in = inputBuffer.baseAddress
                avail_in = UInt32(inputBuffer.count)
                next_out = outputBuffer.baseAddress
                avail_out = UInt32(outputBuffer.count)
                return step(&self)
            }
        }
    }
}

/// Snappy block format (not the framing format), as Prometheus remote write requires,
/// through libsnappy's C interface.
public enum Snappy {
    public static func compress(_ input: [UInt8]) throws(CompressionError) -> [UInt8] {
        var length = snappy_max_compressed_length(input.count)
        var output = [UInt8](repeating: 0, count: length)
        let status = input.withUnsafeBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                inputBuffer.withMemoryRebound(to: CChar.self) { source in
                    outputBuffer.withMemoryRebound(to: CChar.self) { destination in
                        snappy_compress(source.baseAddress, source.count, destination.baseAddress, &length)
                    }
                }
            }
        }
        guard status == SNAPPY_OK else { throw CompressionError(call: "snappy_compress", code: Int32(status.rawValue)) }
        output.removeLast(output.count - length)
        return output
    }
}
