#if canImport(Glibc)
import Glibc
import SystemCalls
#endif

/// Reads a capture file in chunks, so that a large capture never sits in memory.
public enum CaptureReader {
    /// Calls `body` with each chunk of the file at `path` (`open`, `read`).
    public static func read(path: String, chunkSize: Int = 256 << 10,
                            _ body: (ArraySlice<UInt8>) throws -> Void) throws {
        let file = try FileDescriptor.open(path, O_RDONLY)
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let count = try file.read(into: &buffer)
            if count == 0 { return }
            try body(buffer[..<count])
        }
    }
}
