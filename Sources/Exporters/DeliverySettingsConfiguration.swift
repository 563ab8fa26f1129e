import Configuration

extension DeliverySettings {
    /// The keys that ``init(reading:)`` understands, for the exporters' `requireOnlyKeys`.
    static let keys = ["timeout", "sending_queue", "retry_on_failure"]

    /// Reads `timeout`, `sending_queue.{enabled, queue_size}` and
    /// `retry_on_failure.{enabled, initial_interval, max_interval, max_elapsed_time,
    /// multiplier, randomization_factor}` of an exporter's settings.
    init(reading config: ConfigMappingReader) throws(ConfigurationError) {
        self.init()
        if let timeout = try config.duration("timeout") {
            guard timeout > .zero else {
                throw config.error(at: config.childPath("timeout"), "must be greater than zero",
                                   fix: "write a duration such as `5s`")
            }
            self.timeout = timeout
        }
        let queue = try config.mapping("sending_queue")
        try queue.requireOnlyKeys(["enabled", "queue_size"])
        if let size = try queue.integer("queue_size", in: 1...1_000_000) { queueSize = size }
        // Without a queue the Collector blocks the caller; tandem keeps one request in flight instead.
        if try queue.bool("enabled") == false { queueSize = 1 }
        let retry = try config.mapping("retry_on_failure")
        try retry.requireOnlyKeys(["enabled", "initial_interval", "max_interval", "max_elapsed_time",
                                   "multiplier", "randomization_factor"])
        if let enabled = try retry.bool("enabled") { retryEnabled = enabled }
        if let value = try retry.duration("initial_interval") { initialInterval = value }
        if let value = try retry.duration("max_interval") { maxInterval = value }
        // 0 means no limit, as in the Collector.
        if let value = try retry.duration("max_elapsed_time") { maxElapsedTime = value == .zero ? .seconds(Int64.max / 2) : value }
        if let value = try retry.number("multiplier", in: 1...100) { multiplier = value }
        if let value = try retry.number("randomization_factor", in: 0...1) { randomizationFactor = value }
    }
}
