import Foundation
import Testing
import WireFormat

extension SamplerLiveTests {
/// A capture that cannot be written is a failure the caller sees: a non-zero exit status
/// and an error that names the path, the errno and the fix, never a truncated file and 0.
@Suite("tandem-sampler --output that cannot be written (root)", .serialized, .enabled(if: isRoot, "needs root: loads BPF, mounts"))
struct CaptureFailureTests {
    /// Runs tandem-sampler to its end; its exit status and log.
    func run(_ arguments: [String], scratch: URL) throws -> (status: Int32, log: String) {
        let sampler = try SamplerProcess(arguments: arguments + ["--samples-per-second", "19"], scratch: scratch)
        sampler.process.waitUntilExit()
        return (sampler.process.terminationStatus, sampler.log)
    }

    @Test("a directory that does not exist, or a device: exit status 73 and what to do")
    func cannotOpen() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let missing = scratch.appendingPathComponent("missing/capture.tandem").path
        let result = try run(["--output", missing, "--duration", "5"], scratch: scratch)
        #expect(result.status == 73, "\(result.log)")
        #expect(result.log.contains("cannot open the capture file \(missing)") && result.log.contains("errno \(ENOENT)")
                && result.log.contains("create it or choose another --output"), "\(result.log)")

        let device = try run(["--output", "/dev/full", "--duration", "5"], scratch: scratch)
        #expect(device.status == 73, "\(device.log)")
        #expect(device.log.contains("refusing to write the capture file /dev/full: it is a character device"), "\(device.log)")
    }

    @Test("a full file system: it stops at once with exit status 74, the capture holding what fit")
    func fileSystemFull() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let mountPoint = scratch.appendingPathComponent("small").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try runToCompletion("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tandem-test", mountPoint])
        defer { _ = try? runToCompletion("/bin/umount", ["-l", mountPoint]) }
        let path = "\(mountPoint)/capture.tandem"
        // The kernel symbols alone are megabytes: the disk fills with the first write. The
        // duration only bounds the old behaviour, which sampled on into nothing and exited 0.
        let result = try run(["--output", path, "--duration", "8"], scratch: scratch)
        #expect(result.status == 74, "\(result.log)")
        #expect(result.log.contains("writing the capture file \(path) failed after") && result.log.contains("errno \(ENOSPC)")
                && result.log.contains("free space or choose another --output"), "\(result.log)")
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        #expect(size > 0 && size <= 64 << 10)
        // What fit is the start of the stream, up to its last whole record.
        let records = try decodeCapture(path, complete: false)
        guard case .header = records.first else {
            Issue.record("the partial capture does not start with a header")
            return
        }
    }
}
}
