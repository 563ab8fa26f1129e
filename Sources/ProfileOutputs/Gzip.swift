import CTandemZlib

/// Compresses bytes into the gzip format (RFC 1952) with zlib, as pprof
/// expects its files on disk.
enum Gzip {
    /// deflateInit2's windowBits: 15 (a 32 KiB window) plus 16 for a gzip
    /// header and trailer instead of zlib's.
    private static let gzipWindowBits: Int32 = 15 + 16

    static func compress(_ input: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) throws(ProfileOutputError) -> [UInt8] {
        var stream = z_stream()
        let initResult = tandem_deflate_init2(&stream, level, gzipWindowBits)
        guard initResult == Z_OK else {
            throw .compressionFailed(call: "deflateInit2", code: initResult)
        }
        defer { deflateEnd(&stream) }

        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))))
        let result = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                // zlib does not write through next_in; the cast only satisfies its C signature.
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = uInt(source.count)
                stream.next_out = destination.baseAddress
                stream.avail_out = uInt(destination.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        // deflateBound guarantees room for everything in one Z_FINISH call.
        guard result == Z_STREAM_END else {
            throw .compressionFailed(call: "deflate", code: result)
        }
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }
}
