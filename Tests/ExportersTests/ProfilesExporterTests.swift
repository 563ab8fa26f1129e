import Configuration
import Foundation
import Logging
import OTLPProfilesProto
import Profiles
import Testing

@testable import Exporters

/// A batch of two processes whose stacks share frames: a named native frame, a kernel
/// frame, a frame with only a file and offset, and one with only an address.
func sampleProfilesBatch() -> ProfilesBatch {
    let shared = Frame(type: .native, address: 0x5555_0000_1010, functionName: "main", mappingPath: "/usr/bin/app",
                       fileOffset: 0x1010)
    let kernel = Frame(type: .kernel, address: 0xffff_ffff_8100_2020, functionName: "tcp_sendmsg")
    let unnamed = Frame(type: .native, address: 0x7f00_0000_3030, mappingPath: "/usr/lib/libx.so.1", fileOffset: 0x3030)
    let bare = Frame(type: .native, address: 0x4040)
    let app = ProcessIdentity(pid: 100, comm: "app", executablePath: "/usr/bin/app")
    let other = ProcessIdentity(pid: 200, comm: "other", containerID: "abc123")
    return ProfilesBatch(
        hostName: "profiles-host", hostID: "0123456789abcdef0123456789abcdef", samplesPerSecond: 20,
        startUnixNano: 1_700_000_000_000_000_000, endUnixNano: 1_700_000_000_300_000_000,
        samples: [
            SymbolizedSample(timestamps: [1_700_000_000_000_000_000], process: app, threadID: 101, cpu: 0,
                             frames: [kernel, unnamed, shared]),
            SymbolizedSample(timestamps: [1_700_000_000_100_000_000], process: app, threadID: 101, cpu: 1,
                             frames: [kernel, unnamed, shared]),
            SymbolizedSample(timestamps: [1_700_000_000_200_000_000, 1_700_000_000_300_000_000], process: other,
                             threadID: 200, cpu: 0, frames: [bare, shared], userStackTruncated: true),
        ],
        fileIdentities: ["/usr/bin/app": MappedFileIdentity(gnuBuildID: "c0ffee", fileID: "00112233445566778899aabbccddeeff")],
        host: SampledHost(kernelRelease: "6.8.0-45-generic", machine: "x86_64", samplerVersion: "0.9.0",
                          cpuCount: 4, samplerStartUnixMillis: 1_699_999_000_000))
}

@Suite("profiles exporters")
struct ProfilesExporterTests {
    @Test("the dictionary starts each table with its zero value and holds each item once")
    func dictionaryShape() throws {
        let request = OTLPProfiles.request(for: sampleProfilesBatch(), scopeVersion: "test")
        let dictionary = request.dictionary
        #expect(dictionary.stringTable.first == "")
        #expect(dictionary.mappingTable.first == .init())
        #expect(dictionary.locationTable.first == .init())
        #expect(dictionary.functionTable.first == .init())
        #expect(dictionary.stackTable.first == .init())
        #expect(dictionary.attributeTable.first == .init())
        #expect(dictionary.linkTable.first == .init())
        #expect(Set(dictionary.stringTable).count == dictionary.stringTable.count)
        // Four distinct frames, two distinct stacks, two files.
        #expect(dictionary.locationTable.count == 1 + 4)
        #expect(dictionary.stackTable.count == 1 + 2)
        #expect(dictionary.mappingTable.count == 1 + 2)
        // The two samples of `app` with one stack are one entry with two timestamps.
        let profile = try #require(request.resourceProfiles.first?.scopeProfiles.first?.profiles.first)
        #expect(profile.samples.map(\.timestampsUnixNano.count) == [2, 2])
        #expect(profile.samples.map(\.values) == [[1, 1], [1, 1]])
        #expect(profile.period == 50_000_000)
    }

    @Test("a sample carries its thread's own name (else its process's), and its process's service.name and container.id when known")
    func threadServiceAndContainerAttributes() throws {
        var batch = sampleProfilesBatch()
        batch.samples[0].process.serviceName = "app-server"
        batch.samples[1].process.serviceName = "app-server"
        batch.samples[2].threadName = "1_scheduler"
        let request = OTLPProfiles.request(for: batch, scopeVersion: "test")
        let dictionary = request.dictionary
        let profile = try #require(request.resourceProfiles.first?.scopeProfiles.first?.profiles.first)
        func attributes(_ sample: Opentelemetry_Proto_Profiles_V1development_Sample) -> [String: String] {
            Dictionary(uniqueKeysWithValues: sample.attributeIndices.map { index in
                let entry = dictionary.attributeTable[Int(index)]
                return (dictionary.stringTable[Int(entry.keyStrindex)], entry.value.stringValue)
            })
        }
        let bySamplePID = Dictionary(uniqueKeysWithValues: profile.samples.map { sample in
            let entry = sample.attributeIndices.map { dictionary.attributeTable[Int($0)] }
                .first { dictionary.stringTable[Int($0.keyStrindex)] == "process.pid" }
            return (entry?.value.intValue ?? -1, attributes(sample))
        })
        #expect(bySamplePID[100]?["service.name"] == "app-server")
        #expect(bySamplePID[100]?["container.id"] == nil)
        #expect(bySamplePID[200]?["container.id"] == "abc123")
        #expect(bySamplePID[200]?["service.name"] == nil)
        #expect(bySamplePID[100]?["thread.name"] == "app")
        #expect(bySamplePID[200]?["thread.name"] == "1_scheduler")
    }

    @Test("`profiles_endpoint` is used as given, JSON when asked, decoded by the official classes")
    func profilesEndpointAndJSON() throws {
        try requirePython(module: "opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2",
                          install: "pip install opentelemetry-proto==1.45.2")
        let directory = try temporaryDirectory()
        let dump = directory.appendingPathComponent("requests.jsonl")
        let (peer, port) = try startPeer("otlp_profiles_peer.py", ["serve", dump.path])
        defer { peer.stop() }
        let exporter = try ExporterFactory.makeProfiles(
            id: "otlphttp/json",
            node: mapping(("endpoint", "http://127.0.0.1:1"), ("profiles_endpoint", .scalar("http://127.0.0.1:\(port)/custom/profiles")),
                          ("encoding", "json"), ("compression", "none")),
            scopeVersion: "test", logger: quietExporterLogger)
        exporter.export(sampleProfilesBatch())
        exporter.shutdown(deadline: .now + .seconds(10))
        #expect(exporter.statistics == ExporterStatistics(sent: 1))
        let records = try readJSONLines(dump)
        #expect(records.count == 1)
        #expect(records.first?["path"] as? String == "/custom/profiles")
        #expect(records.first?["content_type"] as? String == "application/json")
        #expect(records.first?["content_encoding"] as? String == "")
    }

    @Test("a partial success is logged with the profiles the receiver refused; the request counts as sent")
    func partialSuccess() throws {
        let directory = try temporaryDirectory()
        let (peer, port) = try startPeer("otlp_profiles_peer.py",
                                         ["serve", directory.appendingPathComponent("requests.jsonl").path,
                                          "--partial-reject", "2"])
        defer { peer.stop() }
        let capture = LogCapture()
        let exporter = try ExporterFactory.makeProfiles(
            id: "otlphttp", node: mapping(("endpoint", .scalar("http://127.0.0.1:\(port)"))),
            scopeVersion: "test", logger: capture.logger())
        exporter.export(sampleProfilesBatch())
        exporter.shutdown(deadline: .now + .seconds(10))
        #expect(exporter.statistics == ExporterStatistics(sent: 1))
        #expect(capture.messages.contains {
            $0.contains("refused some profiles") && $0.contains("rejected_profiles=2") && $0.contains("injected partial rejection")
        })
    }

    @Test("the resource carries host.name, and host.id when the batch has one (serve: /etc/machine-id; replay: none)")
    func hostAttributes() throws {
        func resourceAttributes(_ batch: ProfilesBatch) -> [String: String] {
            let request = OTLPProfiles.request(for: batch, scopeVersion: "test")
            return Dictionary(uniqueKeysWithValues: (request.resourceProfiles.first?.resource.attributes ?? []).map {
                ($0.key, $0.value.stringValue)
            })
        }
        var batch = sampleProfilesBatch()
        #expect(resourceAttributes(batch) == ["host.name": "profiles-host", "host.id": "0123456789abcdef0123456789abcdef"])
        batch.hostID = nil
        #expect(resourceAttributes(batch) == ["host.name": "profiles-host"])
    }

    @Test("an exporter type without profiles is refused")
    func prometheusRefused() {
        #expect(throws: ConfigurationError.self) {
            try ExporterFactory.makeProfiles(id: "prometheusremotewrite", node: nil, scopeVersion: "test",
                                             logger: quietExporterLogger)
        }
    }
}

private let quietExporterLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
