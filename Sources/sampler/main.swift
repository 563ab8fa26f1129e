import ArgumentParser
import Logging
import SamplerCore
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// tandem-sampler: the privileged half of tandem. Samples every CPU with BPF and
/// streams raw stacks and process facts to tandem-aggregator (or a capture file).
struct TandemSampler: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem-sampler",
        abstract: "Sample every CPU with BPF and stream raw stacks to tandem-aggregator.",
        discussion: """
            Needs CAP_BPF, CAP_PERFMON, CAP_SYSLOG and CAP_SYS_PTRACE (or root) to start; after \
            start-up it keeps only CAP_SYS_PTRACE and sets no_new_privs (see docs/security.md).
            Exactly one of --socket and --output is required.
            """,
        version: SamplerVersion.current)

    @Option(name: .long, help: ArgumentHelp("Stream to tandem-aggregator's Unix socket at this path (reconnects with backoff).", valueName: "path"))
    var socket: String?

    @Option(name: .long, help: ArgumentHelp("Write a capture file (the bytes of one stream) instead: a regular file, created, or replaced if it is one of the sampler's user's (links, devices and FIFOs are refused).", valueName: "file"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp("Stop after this many seconds (default: run until SIGINT/SIGTERM).", valueName: "seconds"))
    var duration: Double?

    @Option(name: .long, help: ArgumentHelp("Samples per second per CPU, 1 to 10000 (default 19, or the configuration file's receivers.profiling.samples_per_second).", valueName: "n"))
    var samplesPerSecond: Int?

    @Option(name: .long, help: ArgumentHelp("The collector-shaped YAML configuration; reads only receivers.profiling.samples_per_second (or SamplesPerSecond) and off_cpu_threshold, in block style, and refuses what it cannot read safely.", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Most bytes buffered for a slow or absent aggregator before samples are dropped.", valueName: "bytes"))
    var bufferBytes: Int = 8 << 20

    @Option(name: .long, help: ArgumentHelp("Size of the BPF ring buffer, a power of two (default: four seconds of samples, at least 8 MiB).", valueName: "bytes"))
    var ringBufferBytes: Int?

    @Option(name: .long, help: ArgumentHelp("Entries (8 bytes each) of the BPF array that holds the unwind tables the aggregator sends, to walk stacks without frame pointers; 0 = frame pointers only.", valueName: "n"))
    var unwindTableEntries: Int = 1 << 20

    @Flag(name: .long, help: ArgumentHelp("Do not walk interpreter frames (CPython): the BPF program then reads no interpreter memory, and the aggregator's interpreter records are refused."))
    var noInterpreterFrames = false

    @Option(name: .long, help: ArgumentHelp("Record this share (0 to 1) of the switches off the CPU as off-CPU samples: the thread's stacks and how long it waited; 0 = off (default 0, or the configuration file's receivers.profiling.off_cpu_threshold).", valueName: "share"))
    var offCPUThreshold: Double?

    @Option(name: .long, help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: String = "info"

    func validate() throws {
        switch (socket, output) {
        case (nil, nil): throw ValidationError("give --socket PATH (stream to tandem-aggregator) or --output FILE (write a capture file)")
        case (.some, .some): throw ValidationError("--socket and --output exclude each other; give one")
        default: break
        }
        // The flag's rate is checked here only (the file's by SamplingRateReader, with its line).
        if let samplesPerSecond, let problem = SamplingRate.problem(with: samplesPerSecond) {
            throw ValidationError("--samples-per-second: \(problem)")
        }
        if let duration, !(duration > 0 && duration.isFinite) {
            throw ValidationError("--duration must be a positive number of seconds, not \(duration)")
        }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not \(logLevel)")
        }
        do {
            try makeConfiguration().validate()
        } catch {
            throw ValidationError(error.description)
        }
    }

    func makeConfiguration() throws(SamplerError) -> SamplerConfiguration {
        let destination: OutputDestination = if let socket { .socket(path: socket) } else { .file(path: output ?? "") }
        var configuration = SamplerConfiguration(destination: destination)
        // The flags beat the file.
        if let config {
            let fromFile = try ConfigurationFile.settings(path: config)
            if let rate = fromFile.samplesPerSecond { configuration.samplesPerSecond = rate }
            if let threshold = fromFile.offCPUThreshold { configuration.offCPUThreshold = threshold }
        }
        if let samplesPerSecond { configuration.samplesPerSecond = samplesPerSecond }
        if let offCPUThreshold { configuration.offCPUThreshold = offCPUThreshold }
        configuration.durationSeconds = duration
        configuration.bufferBytes = bufferBytes
        configuration.ringBufferBytes = ringBufferBytes
        configuration.unwindTableEntries = unwindTableEntries
        configuration.walksInterpreters = !noInterpreterFrames
        return configuration
    }

    func run() throws {
        var logger = Logger(label: "tandem-sampler")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let sampler = Sampler(configuration: try makeConfiguration(), logger: logger)
        do {
            try sampler.run()
        } catch {
            logger.critical("\(error)")
            throw ExitCode(error.exitCode)
        }
    }
}

extension SamplerError {
    /// sysexits-style codes: 77 for permissions, 69 for an unavailable kernel feature,
    /// 73 for a capture file that cannot be created, 74 for one that cannot be written.
    var exitCode: Int32 {
        switch self {
        case .missingCapabilities, .perfEventParanoid, .kernelSymbolsHidden: 77
        case .bpfUnavailable, .btfUnavailable, .perfEventUnavailable, .cpuHotplug: 69
        case .invalidConfiguration: 78
        case .systemCall: 71
        case .captureFileUnavailable, .captureFileRefused: 73
        case .captureFileWriteFailed: 74
        }
    }
}

LoggingSystem.bootstrap(StreamLogHandler.standardError)
TandemSampler.main()
