/// One value of every pprof sample: its `ValueType` (type and unit, as `go tool pprof`
/// names it with `-sample_index`) and what it is computed from.
public struct PprofSampleType: Hashable, Sendable {
    /// What a sample's value is, from its profile cell.
    public enum Value: Hashable, Sendable {
        /// The cell's weight: samples on-CPU, nanoseconds waited off-CPU.
        case weight
        /// The weight times the sampling period: CPU time of on-CPU samples.
        case weightTimesPeriod
        /// The samples added into the cell (off-CPU: the number of waits).
        case events

        func of(_ cell: ProfileAggregate.Cell, period: Int64) -> Int64 {
            switch self {
            case .weight: cell.count
            case .weightTimesPeriod: cell.count &* period
            case .events: cell.events
            }
        }
    }

    public var type: String
    public var unit: String
    public var value: Value

    public init(type: String, unit: String, value: Value) {
        self.type = type
        self.unit = unit
        self.value = value
    }

    /// On-CPU samples counted.
    public static let samples = PprofSampleType(type: "samples", unit: "count", value: .weight)
    /// On-CPU time: samples times the sampling period.
    public static let cpu = PprofSampleType(type: "cpu", unit: "nanoseconds", value: .weightTimesPeriod)
    /// Waits counted: the off-CPU samples.
    public static let events = PprofSampleType(type: "events", unit: "count", value: .events)
    /// Time waited off the CPU.
    public static let offCPU = PprofSampleType(type: "off_cpu", unit: "nanoseconds", value: .weight)

    /// An on-CPU profile's values, as `go tool pprof` expects a CPU profile's.
    public static let onCPU: [PprofSampleType] = [.samples, .cpu]
    /// An off-CPU profile's values: the waits and their time, as Go's own block profile
    /// pairs `contentions/count` with `delay/nanoseconds`; the time last, pprof's default.
    public static let offCPUProfile: [PprofSampleType] = [.events, .offCPU]
}
