/// The file ID of Elastic's Universal Profiling, which the OpenTelemetry eBPF profiler
/// sends as `process.executable.build_id.htlhash`: the first 16 bytes of SHA-256 over
/// the file's first 4096 bytes, its last 4096 bytes (the whole file, twice, when it is
/// shorter) and its length as 8 big-endian bytes. Reads 8 KiB whatever the file's size.
enum FileID {
    static let chunkSize: UInt64 = 4096

    /// The file ID of `file`; nil when it cannot be read.
    static func of(_ file: OpenFile) -> [UInt8]? {
        let size = UInt64(max(0, file.size))
        let tailOffset = size > chunkSize ? size - chunkSize : 0
        guard let head = file.read(offset: 0, count: Int(min(chunkSize, size))),
              let tail = file.read(offset: tailOffset, count: Int(size - tailOffset))
        else { return nil }
        var input = head + tail
        withUnsafeBytes(of: size.bigEndian) { input.append(contentsOf: $0) }
        return Array(SHA256.hash(input).prefix(16))
    }
}
