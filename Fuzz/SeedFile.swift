// Writes one seed file; shared by the seed generators (SeedCorpus.swift, ControlSeedCorpus.swift).

#if canImport(Glibc)
import Glibc
#endif

/// Writes `bytes` to a new file at `path`, or stops the generator.
func writeSeed(_ bytes: [UInt8], to path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { fatalError("open \(path) failed: errno \(errno)") }
    let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count else { fatalError("write \(path) failed: errno \(errno)") }
    close(fd)
}
