import SamplingRateReader
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Reads the sampler's settings from the collector-shaped YAML configuration
/// (`receivers: profiling: samples_per_second: 19`, `off_cpu_threshold: 0.01`) with
/// `SamplingRateReader`, not a YAML library: only the keys the sampler uses are read; the
/// rest belongs to the aggregator.
public enum ConfigurationFile {
    public typealias Settings = SamplingRateReader.Settings

    public static func settings(yaml text: String, path: String = "<config>") throws(SamplerError) -> Settings {
        do {
            return try SamplingRateReader.settings(in: text.utf8, path: path)
        } catch {
            throw .invalidConfiguration(error.description)
        }
    }

    /// Opened without blocking (a FIFO at `path` does not stall the sampler, which still
    /// holds its start-up capabilities) and read only if it is a regular file of at most
    /// `SamplingRateReader.maximumBytes`.
    public static func settings(path: String) throws(SamplerError) -> Settings {
        let limit = SamplingRateReader.maximumBytes
        let type: FileType
        let bytes: [UInt8]
        do {
            (type, bytes) = try contents(path, limit: limit)
        } catch {
            throw .invalidConfiguration("cannot read the configuration file: \(error)")
        }
        guard type == .regular else {
            throw .invalidConfiguration("\(path) is \(type), not a regular file; give the YAML file itself")
        }
        guard bytes.count <= limit else {
            throw .invalidConfiguration("\(path) is larger than \(limit) bytes; keep the configuration under 1 MiB")
        }
        do {
            return try SamplingRateReader.settings(in: bytes, path: path)
        } catch {
            throw .invalidConfiguration(error.description)
        }
    }

    /// `path`'s type and, for a regular file, its bytes, at most `limit` + 1 of them.
    private static func contents(_ path: String, limit: Int) throws(SystemCallError) -> (FileType, [UInt8]) {
        let file = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY)
        let type = FileType(mode: try file.status().st_mode)
        guard type == .regular else { return (type, []) }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 1)
        defer { chunk.deallocate() }
        var bytes: [UInt8] = []
        while bytes.count <= limit {
            let count = try file.read(into: chunk)
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
        }
        return (type, bytes)
    }
}
