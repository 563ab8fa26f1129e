@testable import Exporters
import Foundation
import Profiles
import Testing

/// The Universal Profiling indices hold CPU samples only: the off-CPU samples of a batch
/// are left out of the documents and counted.
extension ElasticsearchProfilesTests {
    /// `sampleProfilesBatch()` with two waits of its first process, on a stack of their own.
    static func batchWithOffCPUSamples(onCPU: Bool = true) -> ProfilesBatch {
        var batch = sampleProfilesBatch()
        let onCPUSample = batch.samples[0]
        var wait = onCPUSample
        wait.frames = [Frame(type: .kernel, address: 0xffff_ffff_8130_0000, functionName: "__schedule"),
                       Frame(type: .kernel, address: 0xffff_ffff_8140_0000, functionName: "do_nanosleep")]
            + onCPUSample.frames.dropFirst()
        wait.offCPUNanoseconds = 70_000_000
        batch.offCPUSamples = [wait, wait]
        if !onCPU { batch.samples = [] }
        return batch
    }

    @Test("off-CPU samples are not written, and are counted")
    func offCPUSamplesAreLeftOut() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dump = directory.appendingPathComponent("bulk.jsonl")
        let (stub, port) = try startPeer("es_bulk_stub.py", [dump.path, "[]"])
        defer { stub.stop() }
        let exporter = try exporter(port: port, documents: UniversalProfilingDocuments(seed: 7))
        exporter.export(Self.batchWithOffCPUSamples())
        // A batch of waits only sends nothing.
        exporter.export(Self.batchWithOffCPUSamples(onCPU: false))
        exporter.shutdown(deadline: .now + .seconds(20))
        #expect(exporter.offCPUSamplesSkipped == 4)
        #expect(try readJSONLines(dump).count == 1)
        let indices = try Self.indices(dump, request: 0)
        // As for the on-CPU samples alone: their two traces and four events, no third trace.
        #expect(indices.filter { $0 == "profiling-stacktraces" }.count == 2)
        #expect(indices.filter { $0 == "profiling-events-all" }.count == 4)
        let bulk = String(decoding: try Data(contentsOf: dump), as: UTF8.self)
        #expect(!bulk.contains("do_nanosleep"))
    }
}

/// OTLP's second profile: upstream's off-CPU shape, in the request's one dictionary.
@Suite("OTLP off-CPU profile")
struct OTLPOffCPUProfileTests {
    @Test("off-CPU samples make a second profile of events/nanoseconds, a value per timestamp")
    func secondProfile() throws {
        let request = OTLPProfiles.request(for: ElasticsearchProfilesTests.batchWithOffCPUSamples(), scopeVersion: "test")
        let strings = request.dictionary.stringTable
        let profiles = try #require(request.resourceProfiles.first?.scopeProfiles.first?.profiles)
        #expect(profiles.map { strings[Int($0.sampleType.typeStrindex)] + "/" + strings[Int($0.sampleType.unitStrindex)] }
                == ["samples/count", "events/nanoseconds"])
        let offCPU = profiles[1]
        #expect(offCPU.samples.count == 1)
        #expect(offCPU.samples[0].values == [70_000_000, 70_000_000])
        #expect(offCPU.samples[0].timestampsUnixNano.count == 2)
        // Its stack ends in the on-CPU samples' frames, interned once in the shared dictionary.
        let onCPUStack = request.dictionary.stackTable[Int(profiles[0].samples[0].stackIndex)].locationIndices
        let offCPUStack = request.dictionary.stackTable[Int(offCPU.samples[0].stackIndex)].locationIndices
        #expect(Array(offCPUStack.suffix(2)) == Array(onCPUStack.suffix(2)))

        let waitsOnly = OTLPProfiles.request(for: ElasticsearchProfilesTests.batchWithOffCPUSamples(onCPU: false),
                                             scopeVersion: "test")
        let only = try #require(waitsOnly.resourceProfiles.first?.scopeProfiles.first?.profiles)
        #expect(only.count == 1)
        #expect(waitsOnly.dictionary.stringTable[Int(only[0].sampleType.typeStrindex)] == "events")
    }
}
