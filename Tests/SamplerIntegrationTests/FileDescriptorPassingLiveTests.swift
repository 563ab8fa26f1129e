import Foundation
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

extension SamplerLiveTests {
    @Suite struct FileDescriptorPassingLiveTests {
        /// The aggregator runs as the unprivileged `tandem` user (no capabilities) and the
        /// -O2 -fomit-frame-pointer workload lives in a root-owned 0700 directory it cannot
        /// enter: it asks the sampler, which passes a read-only descriptor over the socket
        /// (SCM_RIGHTS), and at least 95% of the workload's samples unwind to `_start`. The
        /// symbolizer, which cannot open the file by path either, names the workload's
        /// frames through the same descriptor.
        @Test func unreadableBinaryIsUnwoundAndSymbolizedThroughAPassedDescriptor() throws {
            let tandem = try #require(getpwnam("tandem")?.pointee, "the tandem user is missing: make deps creates it (useradd --system tandem)")
            let scratch = try makeScratchDirectory()
            defer { try? FileManager.default.removeItem(at: scratch) }
            chmod(scratch.path, 0o755)
            let hidden = scratch.appendingPathComponent("hidden")
            try FileManager.default.createDirectory(at: hidden, withIntermediateDirectories: false)
            chmod(hidden.path, 0o700)
            let workload = try Workload.build("unwind_o2", in: hidden, extraArguments: ["-O2", "-fomit-frame-pointer"])
            let symbols = try SymbolTable(binary: workload)
            let start = try #require(symbols.address(of: "_start"))

            // The aggregator's own directories: its socket and its captures.
            let run = scratch.appendingPathComponent("run")
            let captures = scratch.appendingPathComponent("captures")
            for directory in [run, captures] {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
                chown(directory.path, tandem.pw_uid, tandem.pw_gid)
                chmod(directory.path, 0o755)
            }
            let socket = run.appendingPathComponent("a.sock").path
            let folded = run.appendingPathComponent("folded.txt")
            guard FileManager.default.isExecutableFile(atPath: aggregatorBinaryPath) else {
                throw TestFailure.setup("tandem-aggregator was not built next to the tests; run `swift build` first")
            }
            let aggregatorLog = scratch.appendingPathComponent("aggregator.log")
            _ = FileManager.default.createFile(atPath: aggregatorLog.path, contents: nil)
            let aggregator = Process()
            aggregator.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            // The socket is 0666: the sampler is root without CAP_DAC_OVERRIDE once started.
            aggregator.arguments = ["--reuid=tandem", "--regid=tandem", "--clear-groups", "--inh-caps=-all",
                                    "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
                                    aggregatorBinaryPath, "serve", "--socket", socket, "--socket-mode", "0666",
                                    "--capture", captures.path, "--folded", folded.path, "--log-level", "info"]
            aggregator.standardError = try FileHandle(forWritingTo: aggregatorLog)
            aggregator.standardOutput = FileHandle.nullDevice  // the default exporter's metrics
            try aggregator.run()
            defer { if aggregator.isRunning { kill(aggregator.processIdentifier, SIGKILL) } }
            let readLog = { (try? String(contentsOf: aggregatorLog, encoding: .utf8)) ?? "" }
            while !FileManager.default.fileExists(atPath: socket) {
                guard aggregator.isRunning else { throw TestFailure.setup("tandem-aggregator exited early: \(readLog())") }
                usleep(20_000)
            }
            // The premise: the aggregator's user cannot open the workload.
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            probe.arguments = ["--reuid=tandem", "--regid=tandem", "--clear-groups", "--", "/usr/bin/test", "-r", workload]
            try probe.run()
            probe.waitUntilExit()
            try #require(probe.terminationStatus != 0, "the tandem user can read \(workload): the test proves nothing")

            let sampler = try SamplerProcess(arguments: ["--socket", socket, "--samples-per-second", "99",
                                                         "--unwind-table-entries", "\(8 << 20)", "--log-level", "debug"],
                                             scratch: scratch)
            defer { if sampler.process.isRunning { kill(sampler.pid, SIGKILL) } }
            try sampler.waitUntilSampling()
            // Primed once a sample of a first run reaches _start: the descriptor came and
            // the table was compiled and loaded.
            let measured = try primeAndMeasure(workload: workload, symbols: symbols, start: start, captures: captures,
                                               sampler: sampler, aggregator: aggregator) {
                "aggregator:\n\(readLog())\nsampler:\n\(sampler.log)"
            }
            let (records, before, total, rooted) = (measured.records, measured.before, measured.total, measured.rooted)
            let log = readLog()
            #expect(total >= 300, "samples of the workload: \(total)\n\(sampler.log)")
            #expect(Double(rooted) >= 0.95 * Double(total),
                    "\(rooted) of \(total) samples reach _start (\(before) before)\naggregator:\n\(log)\nsampler:\n\(sampler.log)")
            // The aggregator asked for the workload and got its descriptor; the capture
            // keeps the answer (without the descriptor, which files cannot hold).
            #expect(log.contains("asking the sampler for a descriptor of \(workload)"), "\(log)")
            #expect(log.contains("received a descriptor of dev"), "\(log)")
            let answers = records.compactMap { record -> FileDescriptorAnswer? in
                if case .fileDescriptor(let answer) = record { answer } else { nil }
            }
            #expect(answers.contains { $0.status == .attached }, "\(answers)")
            let statistics = records.compactMap { record -> SamplerStatistics? in
                if case .statistics(let value) = record { value } else { nil }
            }.last
            #expect((statistics?[.fileDescriptorsSent] ?? 0) >= 1)
            #expect((statistics?[.fileRequests] ?? 0) >= 1)

            // Named: frames in the workload's file are its functions, not `unwind_o2+0x…`
            // (only samples taken before the descriptor came may keep those).
            let stacks = try String(contentsOf: folded, encoding: .utf8)
            var named = 0
            var unnamed = 0
            for line in stacks.split(separator: "\n") where line.hasPrefix("unwind_o2;") {
                guard let space = line.lastIndex(of: " "), let count = Int(line[line.index(after: space)...]) else { continue }
                for frame in line[..<space].split(separator: ";").dropFirst() {
                    if frame.hasPrefix("unwind_o2+0x") { unnamed += count }
                    if ["main", "descend", "sort_round", "compare"].contains(frame) { named += count }
                }
            }
            print("frames in the workload's file: \(named) named, \(unnamed) not")
            #expect(named >= 1000, "frames of the workload named: \(named)\n\(stacks)")
            #expect(Double(unnamed) <= 0.1 * Double(named + unnamed),
                    "\(unnamed) of \(named + unnamed) frames of the workload's file unnamed\n\(stacks)\naggregator:\n\(log)")
        }
    
        /// The aggregator is less trusted than the sampler: a file request must name a
        /// mapping the sampler read itself (pid, range, device, inode). A stand-in
        /// aggregator asks for two it does not know and one it does.
        @Test func samplerRefusesRequestsForMappingsItDoesNotKnow() throws {
            let scratch = try makeScratchDirectory()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let listener = try UnixListener(path: scratch.appendingPathComponent("a.sock").path)
            defer { listener.close() }
            let sampler = try SamplerProcess(arguments: ["--socket", listener.path, "--samples-per-second", "19"], scratch: scratch)
            defer { if sampler.process.isRunning { kill(sampler.pid, SIGKILL) } }
            let reader = try listener.accept(timeoutSeconds: 60)
            defer { reader.close() }
            // This test process is in the sampler's start-up snapshot.
            let pid = getpid()
            try reader.read(timeoutSeconds: 60) { records in
                records.contains { if case .mappings(let set) = $0 { set.pid == pid } else { false } }
            }
            guard case .header(let header)? = reader.records.first else { throw TestFailure.setup("no header") }
            try #require(header.controlVersion >= 1, "the sampler reads no control stream")
            let known = try #require(reader.records.compactMap { record -> Mapping? in
                guard case .mappings(let set) = record, set.pid == pid else { return nil }
                return set.mappings.first { $0.path.hasPrefix("/") && !$0.path.hasSuffix(" (deleted)") && $0.inode != 0 }
            }.last)
            let valid = FileRequest(pid: pid, start: known.start, end: known.end, device: known.device, inode: known.inode)
            var otherInode = valid
            otherInode.inode += 1
            let otherProcess = FileRequest(pid: 1, start: 0x1000, end: 0x2000, device: known.device, inode: known.inode)
            var encoder = ControlEncoder()
            let control = [otherInode, otherProcess, valid].flatMap { encoder.encode(.fileRequest($0)) }
            try #require(control.withUnsafeBytes { send(reader.fd, $0.baseAddress, $0.count, 0) } == control.count)

            try reader.read(timeoutSeconds: 60) { records in
                records.count { if case .fileDescriptor = $0 { true } else { false } } >= 3
            }
            let answers = reader.records.compactMap { record -> FileDescriptorAnswer? in
                if case .fileDescriptor(let answer) = record { answer } else { nil }
            }
            #expect(answers.map(\.status) == [.unknownMapping, .unknownMapping, .attached], "\(answers)\n\(sampler.log)")
            #expect(answers.map(\.inode) == [otherInode.inode, known.inode, known.inode])
            #expect(answers.map(\.pid) == [pid, 1, pid])

            try sampler.stop()
            try reader.read(timeoutSeconds: 30, closeIsFine: true) { records in
                records.contains { if case .endOfStream = $0 { true } else { false } }
            }
            let statistics = try #require(reader.records.compactMap { record -> SamplerStatistics? in
                if case .statistics(let value) = record { value } else { nil }
            }.last)
            #expect(statistics[.fileRequests] == 3)
            #expect(statistics[.fileRequestsRefused] == 2)
            #expect(statistics[.fileDescriptorsSent] == 1)
        }
    }
}
