import CTandemLZMA

/// MiniDebugInfo: the `.gnu_debugdata` section some distributions (Fedora, RHEL)
/// add to stripped binaries, an xz-compressed ELF whose `.symtab` holds the local
/// function symbols missing from `.dynsym`.
enum MiniDebugInfo {
    /// Largest decompressed image accepted; real ones are a few hundred KiB.
    static let maximumSize = 256 << 20

    /// Decompresses an xz stream with liblzma (`lzma_stream_decoder`, `lzma_code`).
    static func decompress(_ compressed: [UInt8]) throws(ELFError) -> [UInt8] {
        var stream = lzma_stream()
        var status = lzma_stream_decoder(&stream, UInt64(maximumSize) * 2, 0x08 /* LZMA_CONCATENATED, a macro */)
        guard status == LZMA_OK else { throw ELFError("lzma_stream_decoder: error \(status.rawValue)") }
        defer { lzma_end(&stream) }

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        status = compressed.withUnsafeBufferPointer { input -> lzma_ret in
            stream.next_in = input.baseAddress
            stream.avail_in = input.count
            while true {
                let result = chunk.withUnsafeMutableBufferPointer { buffer -> lzma_ret in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = buffer.count
                    return lzma_code(&stream, LZMA_FINISH)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - stream.avail_out)])
                if result != LZMA_OK { return result }
                if output.count > maximumSize { return LZMA_MEMLIMIT_ERROR }
            }
        }
        guard status == LZMA_STREAM_END else {
            throw ELFError("lzma_code(.gnu_debugdata): \(describe(status))")
        }
        return output
    }

    private static func describe(_ status: lzma_ret) -> String {
        switch status {
        case LZMA_FORMAT_ERROR: "not xz data"
        case LZMA_DATA_ERROR: "corrupt xz data"
        case LZMA_BUF_ERROR: "truncated xz data"
        case LZMA_MEMLIMIT_ERROR: "decompressed data larger than \(maximumSize) bytes"
        case LZMA_MEM_ERROR: "out of memory"
        default: "error \(status.rawValue)"
        }
    }
}
