import Profiles

/// The `profiling-hosts` documents of ``UniversalProfilingDocuments``: which host needs one
/// now, and its fields.
///
/// Kibana's Universal Profiling names hosts and Elasticsearch sizes their instances from
/// the host documents whose `@timestamp` falls in the time range asked about, so a host
/// is described again every `refreshSeconds` of its samples' time, and at once when what
/// it says changes (a new sampler run, kernel or name: a new stream from another run).
/// A reconnecting stream of the same sampler run says nothing new and writes nothing.
///
/// A document is remembered only once Elasticsearch accepted it (``settled(hostID:accepted:)``);
/// one refused is written with the next batch. At most `capacity` hosts are remembered
/// (the oldest forgotten first): a bound on memory; a forgotten host is described again.
/// Not thread-safe: ``UniversalProfilingDocuments`` holds it under its lock.
struct HostDocuments {
    /// Ten minutes: Kibana's profiling views default to the last 15 minutes, and a host
    /// whose only document is older than the range shows without a name.
    static let refreshSeconds: UInt64 = 600
    /// The project every tandem document belongs to: the Elastic host agent's default project.
    static let projectID = "1"

    /// What a host document says, but its time.
    struct Facts: Hashable {
        var hostName: String
        var host: SampledHost
        var samplesPerSecond: UInt32
    }

    private struct Described {
        var facts: Facts
        var seconds: UInt64
    }

    let capacity: Int
    let refreshSeconds: UInt64
    /// The last document Elasticsearch accepted, by host id.
    private var written: [String: Described] = [:]
    /// The last document sent and not yet settled, by host id.
    private var sent: [String: Described] = [:]

    init(capacity: Int, refreshSeconds: UInt64) {
        self.capacity = max(1, capacity)
        self.refreshSeconds = refreshSeconds
    }

    var writtenCount: Int { written.count }

    /// Whether `hostID` needs a document at `seconds`: never described, described
    /// differently, or last described `refreshSeconds` ago or more (or, by a clock that
    /// went back, later). `inFlight`: its last document is still on its way.
    func isDue(hostID: String, facts: Facts, seconds: UInt64, inFlight: Bool) -> Bool {
        guard let last = (inFlight ? sent[hostID] : nil) ?? written[hostID] else { return true }
        return last.facts != facts || seconds < last.seconds || seconds - last.seconds >= refreshSeconds
    }

    mutating func sending(hostID: String, facts: Facts, seconds: UInt64) {
        Self.insert(Described(facts: facts, seconds: seconds), for: hostID, into: &sent, capacity: capacity)
    }

    mutating func settled(hostID: String, accepted: Bool) {
        guard let described = sent.removeValue(forKey: hostID) else { return }
        if accepted {
            Self.insert(described, for: hostID, into: &written, capacity: capacity)
        } else {
            // Refused: described anew with the next batch.
            written[hostID] = nil
        }
    }

    private static func insert(_ described: Described, for hostID: String, into table: inout [String: Described],
                               capacity: Int) {
        if table[hostID] == nil, table.count >= capacity,
           let oldest = table.min(by: { $0.value.seconds < $1.value.seconds })?.key {
            table[oldest] = nil
        }
        table[hostID] = described
    }

    /// The document: only fields of Elasticsearch's `profiling-hosts` template, named as the
    /// Elastic host agent names its host metadata, from what the stream says.
    static func document(hostID: String, facts: Facts, seconds: UInt64) -> [UInt8] {
        var json = JSONWriter(reservingCapacity: 512)
        json.beginObject()
        json.field("@timestamp", seconds)
        json.field("ecs.version", UniversalProfilingDocuments.ecsVersion)
        json.field("host.id", hostID)
        json.field("profiling.project.id", projectID)
        if !facts.hostName.isEmpty { json.field("profiling.host.name", facts.hostName) }
        if !facts.host.kernelRelease.isEmpty { json.field("profiling.host.kernel_version", facts.host.kernelRelease) }
        if let machine = facts.host.machine {
            json.field("profiling.host.machine", machine)
            json.field("host.arch", architecture(machine: machine))
        }
        if !facts.host.samplerVersion.isEmpty { json.field("profiling.agent.version", facts.host.samplerVersion) }
        if let started = facts.host.samplerStartUnixMillis { json.field("profiling.agent.start_time", started) }
        json.field("profiling.agent.config.sampling_frequency", facts.samplesPerSecond)
        if facts.host.cpuCount > 0 { json.field("profiling.agent.config.present_cpu_cores", facts.host.cpuCount) }
        json.endObject()
        return json.bytes
    }

    /// `host.arch` as the host agent gives it: OpenTelemetry's names for the two common
    /// machines, the kernel's name for others.
    static func architecture(machine: String) -> String {
        switch machine {
        case "x86_64": "amd64"
        case "aarch64": "arm64"
        default: machine
        }
    }
}
