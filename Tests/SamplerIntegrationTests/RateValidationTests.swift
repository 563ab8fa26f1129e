import Foundation
import Testing

/// The sampling rate is checked once, where it is read: the flag by the command line's
/// `validate()`, the configuration file's by its reader. Either way a bad rate is refused
/// before anything starts, with a message that names where it came from. No root needed.
@Suite("tandem-sampler refuses a bad sampling rate")
struct RateValidationTests {
    /// Runs tandem-sampler to its end; its exit status and standard error.
    func run(_ arguments: [String], scratch: URL) throws -> (status: Int32, log: String) {
        let sampler = try SamplerProcess(arguments: arguments, scratch: scratch)
        sampler.process.waitUntilExit()
        return (sampler.process.terminationStatus, sampler.log)
    }

    @Test("--samples-per-second out of range: exit status 64 and the flag named")
    func flag() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let capture = scratch.appendingPathComponent("capture.tandem").path
        for rate in ["0", "10001"] {
            let result = try run(["--output", capture, "--samples-per-second", rate], scratch: scratch)
            #expect(result.status == 64, "\(result.log)")
            #expect(result.log.contains("--samples-per-second: \(rate) is not between 1 and 10000 samples per second"), "\(result.log)")
        }
        #expect(!FileManager.default.fileExists(atPath: capture), "refused before the capture is created")
    }

    @Test("the configuration file's rate out of range: exit status 64 and the file and key named")
    func configurationFile() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let config = scratch.appendingPathComponent("tandem.yml").path
        try "receivers:\n  profiling:\n    samples_per_second: 20000\n".write(toFile: config, atomically: true, encoding: .utf8)
        let capture = scratch.appendingPathComponent("capture.tandem").path
        let result = try run(["--output", capture, "--config", config], scratch: scratch)
        #expect(result.status == 64, "\(result.log)")
        #expect(result.log.contains("\(config):3: `receivers.profiling.samples_per_second`: 20000 is not between 1 and 10000 samples per second"),
                "\(result.log)")
        #expect(!FileManager.default.fileExists(atPath: capture), "refused before the capture is created")
    }
}
