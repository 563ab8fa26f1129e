import AggregatorCore
import ArgumentParser
import Dispatch
import Foundation
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// `tandem-aggregator serve`: the long-running service.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Listen for tandem-sampler streams and process them until SIGTERM or SIGINT.",
        discussion: """
            Listens on receivers.profiling.endpoint (or --socket), or on the socket systemd passes \
            (LISTEN_FDS). Only peers whose uid is in receivers.profiling.allowed_uids are served, at most \
            receivers.profiling.max_connections at once. \
            On SIGTERM or SIGINT it ends every stream, flushes the exporters and writes the outputs.
            """
    )

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var outputs: OutputOptions

    @Option(help: "Listen on this Unix socket path instead of receivers.profiling.endpoint.")
    var socket: String?

    @Option(help: "The socket file's mode, octal (only the sampler's user should be able to connect).")
    var socketMode: String = "0660"

    @Option(help: "Tee every incoming stream into a capture file in this directory.")
    var capture: String?

    @Option(help: "Log one statistics line (samples received, sampler drops, connections) every this many seconds; 0 turns it off.")
    var statisticsInterval: Int = 60

    func validate() throws {
        guard mode_t(socketMode, radix: 8) != nil else {
            throw ValidationError("--socket-mode \(socketMode) is not an octal mode such as 0660")
        }
        guard statisticsInterval >= 0 else {
            throw ValidationError("--statistics-interval \(statisticsInterval) must be 0 (off) or a number of seconds")
        }
    }

    func run() throws {
        try outputs.createDirectory()
        let logger = pipeline.makeLogger(label: "tandem.aggregator")
        let configuration = try pipeline.loadConfiguration()
        let runtime = try AggregatorRuntime(configuration: configuration, outputs: outputs.paths, stackPathStyle: outputs.stackPathStyle,
                                            hostID: MachineID.read(), logger: logger)

        let activated = SocketActivation.listeningDescriptors(environment: ProcessInfo.processInfo.environment)
        let listener = try { () throws -> FileDescriptor in
            if let first = activated.first {
                logger.info("listening on the socket passed by systemd (fd \(first))")
                return FileDescriptor(owning: first)
            }
            let path = socket ?? configuration.profilingReceiver.endpoint
            do {
                let listener = try UnixSocket.listen(path: path, mode: mode_t(socketMode, radix: 8) ?? 0o660)
                logger.info("listening on \(path)")
                return listener
            } catch {
                throw CommandFailure("cannot listen on \(path): \(error); create its directory with write access for this user, or choose another path with --socket")
            }
        }()
        let allowed = Set(configuration.profilingReceiver.allowedUIDs.map { UInt32($0) })
        let limits = StreamServer.Limits(maxConnections: configuration.profilingReceiver.maxConnections)
        let server = StreamServer(listener: listener, allowedUIDs: allowed, captureDirectory: capture, logger: logger,
                                  limits: limits) { peer, connection in
            var connectionLogger = logger
            connectionLogger[metadataKey: "connection"] = "\(connection)"
            // The daemons' own stacks keep frame pointers; the unwind budget goes to others.
            return StreamPipeline(runtime: runtime, logger: connectionLogger,
                                  unwindExcludedPIDs: [getpid(), peer.pid])
        }
        // SIGTERM and SIGINT were blocked in main before any thread started (ShutdownSignals):
        // they are taken by a waiting thread, not a handler, so shutdown runs as ordinary code.
        try DetachedThread.start(name: "tandem-signals") {
            let caught = ShutdownSignals.wait()
            logger.info("signal \(caught): shutting down")
            server.stop()
        }
        // Counts only at exit would leave nothing to see of a process that is killed.
        let statisticsStop = DispatchSemaphore(value: 0)
        if statisticsInterval > 0 {
            let interval = statisticsInterval
            try DetachedThread.start(name: "tandem-statistics") {
                while statisticsStop.wait(timeout: .now() + .seconds(interval)) == .timedOut {
                    logger.info("statistics: \(runtime.progressDescription); \(server.statistics)")
                }
            }
        }
        try server.run()
        statisticsStop.signal()
        let exporters = try runtime.shutdown()
        let exported = exporters.sorted { $0.key < $1.key }.map { "exporter \($0.key) \($0.value)" }.joined(separator: ", ")
        logger.info("done: \(runtime.summary.description.replacingOccurrences(of: "\n", with: "; ")); \(server.statistics); \(exported)")
    }
}
