// Writes seed files; shared by the seed generator's two corpora (SeedCorpus.swift).

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

/// Writes each of `seeds`, and a prefix of each cut inside a record, to `directory`
/// as NAME-N and NAME-N-cut (then `suffix`).
func writeSeeds(_ seeds: [[UInt8]], to directory: String, name: String, suffix: String = "") {
    mkdir(directory, 0o755)
    for (index, seed) in seeds.enumerated() {
        writeSeed(seed, to: "\(directory)/\(name)-\(index)\(suffix)")
        writeSeed(Array(seed.prefix(seed.count * 2 / 3)), to: "\(directory)/\(name)-\(index)-cut\(suffix)")
    }
    print("wrote \(seeds.count * 2) seeds to \(directory)")
}
