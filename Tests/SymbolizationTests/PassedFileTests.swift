import Foundation
import Profiles
import Synchronization
import Testing
import WireFormat
@testable import Symbolization

/// Files no path opens for the aggregator are read through a descriptor the sampler passed
/// (`Symbolizer.passedFiles`): the symbolizer asks for it, waits for it without caching
/// the unnamed frames, names them once it came, and gives up after `passedFileWait`.
@Suite struct PassedFileTests {
    /// Stands in for the connection: answers what the test says, and records what was asked.
    final class Answers: PassedFiles {
        let state = Mutex<(answer: PassedFile, asked: Int)>((.awaited, 0))

        func file(for mapping: Mapping, pid: Int32) -> PassedFile {
            state.withLock { state in
                state.asked += 1
                return state.answer
            }
        }

        var asked: Int { state.withLock { $0.asked } }
        func answer(_ answer: PassedFile) { state.withLock { $0.answer = answer } }
    }

    /// The fixture running, described to a symbolizer that asks `answers` for files, with its
    /// executable's mapping under a path that does not exist (as a file in a directory the
    /// aggregator may not enter).
    final class Scenario {
        let fixture: CFixture
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        let answers = Answers()
        let process: FixtureProcess
        /// Of `tandem_fixture_static`, in the unreachable mapping.
        let address: UInt64

        init() throws {
            fixture = try CFixture()
            symbolizer.passedFiles = answers
            process = try FixtureProcess(executable: fixture.executable)
            var mappings = try process.mappings()
            for index in mappings.mappings.indices where mappings.mappings[index].path == fixture.executable {
                mappings.mappings[index].path = "/nonexistent-tandem" + fixture.executable
            }
            symbolizer.apply(.process(try process.processInfo()))
            symbolizer.apply(.mappings(mappings))
            address = try process.address("tandem_fixture_static")
        }

        deinit { process.finish() }

        /// The frame of a sample at `address` taken at `second` of stream time.
        func leaf(second: UInt64) -> Frame {
            symbolizer.symbolize(Sample(time: second * 1_000_000_000, pid: process.pid, tid: process.pid, cpu: 0,
                                        userStackID: 7, kernelStack: [], userStack: [address])).frames[0]
        }
    }

    @Test func framesOfAFileNoPathOpensAreNamedThroughThePassedFile() throws {
        let scenario = try Scenario()
        let statistics = { scenario.symbolizer.statistics }
        // Asked for, not there yet: unnamed, and not cached (asked again at the next sample).
        #expect(scenario.leaf(second: 1).functionName == nil)
        #expect(scenario.leaf(second: 2).functionName == nil)
        #expect(scenario.answers.asked == 2)
        #expect(statistics().fileFailures == 0)

        guard case .success(let file) = OpenFile.open(scenario.fixture.executable) else {
            Issue.record("cannot open \(scenario.fixture.executable)")
            return
        }
        scenario.answers.answer(.open(file))
        let frame = scenario.leaf(second: 3)
        #expect(frame.functionName == "tandem_fixture_static")
        #expect(frame.mappingPath == "/nonexistent-tandem" + scenario.fixture.executable)
        #expect(statistics().filesFromPassedDescriptors == 1)
        #expect(statistics().fileFailures == 0)
        // Loaded once: not asked again.
        #expect(scenario.leaf(second: 4).functionName == "tandem_fixture_static")
        #expect(scenario.answers.asked == 3)
    }

    @Test func aDescriptorThatDoesNotComeIsAFailureAfterTheWait() throws {
        let scenario = try Scenario()
        let wait = Symbolizer.passedFileWait / 1_000_000_000
        #expect(scenario.leaf(second: 1).functionName == nil)
        #expect(scenario.leaf(second: wait).functionName == nil)
        #expect(scenario.symbolizer.statistics.fileFailures == 0)
        #expect(scenario.leaf(second: wait + 1).functionName == nil)
        #expect(scenario.symbolizer.statistics.fileFailures == 1)
        #expect(scenario.symbolizer.statistics.recentFileFailures.last?.reason.contains("no descriptor from the sampler within \(wait) s") == true)
        // Final now: a descriptor that comes later is not asked for.
        let asked = scenario.answers.asked
        _ = scenario.leaf(second: wait + 2)
        #expect(scenario.answers.asked == asked)
    }

    /// A stream naming more unreadable files than may wait at once: the ones past the bound
    /// fail at once, as without descriptors.
    @Test func filesWaitingForADescriptorAreBounded() {
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        let answers = Answers()
        symbolizer.passedFiles = answers
        let count = Symbolizer.maximumAwaitedFiles + 1
        let mappings = (1...count).map { (index: Int) -> Mapping in
            let start = UInt64(index) << 16
            return Mapping(start: start, end: start + 0x1000, fileOffset: 0, device: 1, inode: UInt64(index),
                           path: "/nonexistent-tandem/file\(index)")
        }
        symbolizer.apply(.mappings(Mappings(pid: getpid(), mappings: mappings)))
        let frames = symbolizer.symbolize(Sample(time: 1_000_000_000, pid: getpid(), tid: getpid(), cpu: 0, userStackID: 0,
                                                 kernelStack: [], userStack: mappings.map { $0.start + 16 })).frames
        #expect(frames.allSatisfy { $0.functionName == nil })
        #expect(answers.asked == count)
        #expect(symbolizer.statistics.fileFailures == 1)
        #expect(symbolizer.statistics.recentFileFailures.last?.reason.contains("files wait for a descriptor from the sampler") == true)
    }

    /// A replay (no sampler to ask) fails the file at once, as before.
    @Test func withoutPassedFilesTheFileFailsAtOnce() throws {
        let scenario = try Scenario()
        scenario.symbolizer.passedFiles = nil
        #expect(scenario.leaf(second: 1).functionName == nil)
        #expect(scenario.symbolizer.statistics.fileFailures == 1)
        #expect(scenario.answers.asked == 0)
    }
}
