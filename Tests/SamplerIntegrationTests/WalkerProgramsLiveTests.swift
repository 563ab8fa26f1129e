import Foundation
import Testing

extension SamplerLiveTests {
/// The interpreter walkers' programs load after the sampler has started sampling, in a
/// child process (InterpreterLoading's WalkerPrograms) that keeps the start-up capabilities
/// only while it loads them and then exits.
@Suite("interpreter walkers loaded beside a running sampler (root)", .serialized, .enabled(if: isRoot, "needs root: loads BPF"))
struct WalkerProgramsLiveTests {
    static let walkers = ["cpython_walker", "perl_walker", "ruby_walker", "php_walker", "v8_walker", "jvm_walker"]

    @Test("each walker is loaded once, after sampling started, by a process other than the sampler, which then exits")
    func walkersLoadBesideTheSampler() throws {
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        var log = ""
        _ = try capture(samplesPerSecond: 19, scratch: scratch) { sampler in
            // However busy the machine, the loader ends: each walker is logged loaded or refused.
            let deadline = Date().addingTimeInterval(300)
            while Date() < deadline {
                log = sampler.log
                let ended = Self.walkers.allSatisfy { log.contains("walker=\($0) ") || log.contains("the \($0) walker's BPF program did not load") }
                if ended { break }
                usleep(100_000)
            }
            let loaded = log.split(separator: "\n").filter { $0.contains("interpreter walker loaded") }
            #expect(!log.contains("did not load"), "\(log)")
            for walker in Self.walkers {
                #expect(loaded.filter { $0.contains("walker=\(walker) ") }.count == 1, "\(walker): \(log)")
            }
            // Sampling did not wait for them.
            let sampling = try #require(log.range(of: "] sampling"))
            let firstLoaded = try #require(log.range(of: "interpreter walker loaded"))
            #expect(sampling.lowerBound < firstLoaded.lowerBound)
            // One loader process, not the sampler; it is gone once its last walker is in.
            let loaders = Set(loaded.compactMap { line in
                line.split(separator: " ").first { $0.hasPrefix("pid=") }.flatMap { Int32($0.dropFirst(4)) }
            })
            #expect(loaders.count == 1)
            let loader = try #require(loaders.first)
            #expect(loader != sampler.pid)
            let gone = Date().addingTimeInterval(30)
            while Date() < gone, Self.isLoader(loader) { usleep(50_000) }
            #expect(!Self.isLoader(loader), "the walker loader \(loader) is still running")
        }
    }

    /// Whether `pid` is still the loader: a forked copy of tandem-sampler (the pid of a
    /// process that exited may be reused by another program, or be a zombie until reaped).
    static func isLoader(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.range(of: ") ", options: .backwards) else { return false }
        let state = stat[close.upperBound...].first
        return stat.contains("(tandem-sampler)") && state != "Z"
    }
}
}
