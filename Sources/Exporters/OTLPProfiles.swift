import OTLPProfilesProto
import Profiles
import SwiftProtobuf

typealias ExportProfilesServiceRequest = Opentelemetry_Proto_Collector_Profiles_V1development_ExportProfilesServiceRequest

/// Builds the OTLP `ExportProfilesServiceRequest` (profiles/v1development, the schema of
/// the pinned opentelemetry-proto) of a ``ProfilesBatch``, in the shape the OpenTelemetry
/// eBPF profiler sends: one on-CPU profile (sample type `samples`/`count`, period type
/// `cpu`/`nanoseconds`), samples with their timestamps and a value of 1 each, process
/// and thread as sample attributes, `profile.frame.type` on every location; and, unlike
/// that profiler, function names from tandem's own symbolization. Off-CPU samples make a
/// second profile in the same scope and dictionary, as that profiler sends them: sample
/// type `events`/`nanoseconds`, one value per timestamp, the nanoseconds the thread waited.
public enum OTLPProfiles {
    /// The scope every profile is sent under.
    public static let scopeName = "tandem"

    /// Marks a sample whose user stack was not walked to its root (tandem's attribute:
    /// the outermost frame shown is not where the thread started).
    public static let truncatedStackAttribute = "tandem.stack.user_truncated"

    static func request(for batch: ProfilesBatch, scopeVersion: String) -> ExportProfilesServiceRequest {
        var dictionary = ProfilesDictionaryBuilder()
        dictionary.fileIdentities = batch.fileIdentities
        var profiles: [Opentelemetry_Proto_Profiles_V1development_Profile] = []
        if !batch.samples.isEmpty || batch.offCPUSamples.isEmpty {
            var profile = self.profile(of: batch.samples, in: &dictionary) { _ in 1 }
            profile.sampleType.typeStrindex = dictionary.string("samples")
            profile.sampleType.unitStrindex = dictionary.string("count")
            profile.periodType.typeStrindex = dictionary.string("cpu")
            profile.periodType.unitStrindex = dictionary.string("nanoseconds")
            profile.period = 1_000_000_000 / Int64(max(1, batch.samplesPerSecond))
            profiles.append(profile)
        }
        if !batch.offCPUSamples.isEmpty {
            var profile = self.profile(of: batch.offCPUSamples, in: &dictionary) { Int64(clamping: $0.offCPUNanoseconds) }
            profile.sampleType.typeStrindex = dictionary.string(offCPUSampleType.type)
            profile.sampleType.unitStrindex = dictionary.string(offCPUSampleType.unit)
            // Waits are not taken at a period: each counts its own nanoseconds.
            profile.periodType = profile.sampleType
            profile.period = 1
            profiles.append(profile)
        }
        for index in profiles.indices {
            profiles[index].timeUnixNano = batch.startUnixNano
            profiles[index].durationNano = batch.endUnixNano >= batch.startUnixNano ? batch.endUnixNano - batch.startUnixNano : 0
        }

        var scope = Opentelemetry_Proto_Profiles_V1development_ScopeProfiles()
        scope.scope.name = scopeName
        scope.scope.version = scopeVersion
        scope.profiles = profiles
        var resource = Opentelemetry_Proto_Profiles_V1development_ResourceProfiles()
        resource.resource.attributes = [keyValue("host.name", batch.hostName)]
        if let hostID = batch.hostID { resource.resource.attributes.append(keyValue("host.id", hostID)) }
        resource.scopeProfiles = [scope]

        var request = ExportProfilesServiceRequest()
        request.resourceProfiles = [resource]
        request.dictionary = dictionary.dictionary
        return request
    }

    /// The off-CPU profile's sample type (upstream's): events, valued in nanoseconds waited.
    static let offCPUSampleType = (type: "events", unit: "nanoseconds")

    /// A profile of `batchSamples`, its stacks and attributes in `dictionary`, each
    /// timestamp valued `value(sample)`; the caller sets its types and period.
    private static func profile(of batchSamples: [SymbolizedSample], in dictionary: inout ProfilesDictionaryBuilder,
                                value: (SymbolizedSample) -> Int64) -> Opentelemetry_Proto_Profiles_V1development_Profile {
        var profile = Opentelemetry_Proto_Profiles_V1development_Profile()

        // Samples with the same stack and attributes share one entry, their timestamps appended.
        struct SampleKey: Hashable {
            var stack: Int32
            var attributes: [Int32]
        }
        var sampleIndex: [SampleKey: Int] = [:]
        var samples: [Opentelemetry_Proto_Profiles_V1development_Sample] = []
        // The symbolizer hands out one frames array per cached stack, and the batch keeps
        // every array alive while this runs: the array's storage identifies its stack
        // without hashing its frames (measured in docs/benchmarks.md).
        var stackByStorage: [UInt: Int32] = [:]
        struct ProcessKey: Hashable {
            var pid: Int32
            var threadName: String
            var userStackTruncated: Bool
        }
        var attributesByProcess: [ProcessKey: (process: ProcessIdentity, indices: [Int32])] = [:]
        for sample in batchSamples {
            let storage = sample.frames.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
            let stack: Int32
            if storage != 0, let known = stackByStorage[storage] {
                stack = known
            } else {
                stack = dictionary.stack(sample.frames.map { dictionary.location(of: $0) })
                if storage != 0 { stackByStorage[storage] = stack }
            }
            // A thread's attributes are the same for all its samples: looked up by pid and name, checked whole.
            let processKey = ProcessKey(pid: sample.process.pid, threadName: sample.threadName,
                                        userStackTruncated: sample.userStackTruncated)
            let sampleAttributes: [Int32]
            if let cached = attributesByProcess[processKey], cached.process == sample.process {
                sampleAttributes = cached.indices
            } else {
                sampleAttributes = attributes(of: sample, in: &dictionary)
                attributesByProcess[processKey] = (sample.process, sampleAttributes)
            }
            let key = SampleKey(stack: stack, attributes: sampleAttributes)
            let timestamps = sample.timestamps
            let values = Array(repeating: value(sample), count: timestamps.count)
            if let index = sampleIndex[key] {
                samples[index].timestampsUnixNano += timestamps
                samples[index].values += values
            } else {
                var entry = Opentelemetry_Proto_Profiles_V1development_Sample()
                entry.stackIndex = stack
                entry.attributeIndices = key.attributes
                entry.timestampsUnixNano = timestamps
                entry.values = values
                sampleIndex[key] = samples.count
                samples.append(entry)
            }
        }
        profile.samples = samples
        return profile
    }

    /// The protobuf bytes of the request for `batch`.
    public static func encodeProtobuf(_ batch: ProfilesBatch, scopeVersion: String) throws -> [UInt8] {
        try request(for: batch, scopeVersion: scopeVersion).serializedBytes()
    }

    /// The OTLP/JSON text of the request for `batch`. swift-protobuf's JSON is the
    /// protobuf JSON mapping OTLP/JSON asks for (lowerCamelCase names, 64-bit integers as
    /// strings); the one OTLP exception, hex instead of base64 for trace, span and profile
    /// ids, does not arise: tandem sends no links and no profile id.
    public static func encodeJSON(_ batch: ProfilesBatch, scopeVersion: String) throws -> [UInt8] {
        try request(for: batch, scopeVersion: scopeVersion).jsonUTF8Bytes()
    }

    /// The sample attributes the upstream profiler sends, where known, sorted by index
    /// (the sample's identity takes them as a set).
    private static func attributes(of sample: SymbolizedSample, in dictionary: inout ProfilesDictionaryBuilder) -> [Int32] {
        let process = sample.process
        var indices: [Int32] = [
            dictionary.attribute("process.pid", .int(Int64(process.pid))),
            dictionary.attribute("process.executable.name", .string(process.executableName)),
        ]
        // The thread's own name; a stream without thread names gives its process's (`comm`).
        let threadName = sample.threadDisplayName
        if !threadName.isEmpty { indices.append(dictionary.attribute("thread.name", .string(threadName))) }
        if let path = process.executablePath {
            indices.append(dictionary.attribute("process.executable.path", .string(path)))
        }
        if let container = process.containerID {
            indices.append(dictionary.attribute("container.id", .string(container)))
        }
        if let pod = process.podUID {
            indices.append(dictionary.attribute("k8s.pod.uid", .string(pod)))
        }
        if let service = process.serviceName {
            indices.append(dictionary.attribute("service.name", .string(service)))
        }
        if sample.userStackTruncated {
            indices.append(dictionary.attribute(truncatedStackAttribute, .bool(true)))
        }
        return indices.sorted()
    }

    private static func keyValue(_ key: String, _ value: String) -> Opentelemetry_Proto_Common_V1_KeyValue {
        var pair = Opentelemetry_Proto_Common_V1_KeyValue()
        pair.key = key
        pair.value.stringValue = value
        return pair
    }
}
