#if canImport(Glibc)
import Glibc
#endif

/// The host's machine id (`/etc/machine-id`: 32 lowercase hex digits), the `host.id`
/// of the profiles when the aggregator serves the host it runs on.
public enum MachineID {
    /// The id in `path`, or nil when it cannot be read or is not 32 hex digits.
    public static func read(path: String = "/etc/machine-id") -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self).trimmingSuffixWhitespace
        guard text.utf8.count == 32, text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        return text
    }
}

private extension String {
    var trimmingSuffixWhitespace: String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}
