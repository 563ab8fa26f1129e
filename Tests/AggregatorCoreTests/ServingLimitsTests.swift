@testable import AggregatorCore
import Dispatch
import Foundation
import Logging
import Synchronization
import SystemCalls
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Waits up to `seconds` for the peer to end `fd` (read returns 0 or a reset); false if it did not.
/// A generous bound, not a timing assertion: a server that never closes fails instead of hanging.
private func closedByPeer(_ fd: Int32, within seconds: Int32 = 20) -> Bool {
    var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let ready = poll(&descriptor, 1, seconds * 1000)
        if ready < 0 && errno == EINTR { continue }
        guard ready > 0 else { return false }
        let count = read(fd, &buffer, buffer.count)
        if count == 0 || (count < 0 && errno == ECONNRESET) { return true }
        if count < 0 { return false }
    }
}

/// Polls `condition` until it holds, for at most `seconds`; no timing is asserted.
private func eventually(seconds: Double = 20, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline { return false }
        usleep(5_000)
    }
    return true
}

/// The socket inodes among this process's descriptors (/proc/self/fd links `socket:[N]`).
private func openSocketInodes() -> Set<Substring> {
    let directory = "/proc/self/fd"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return Set(names.compactMap { name -> Substring? in
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(name)"),
              target.hasPrefix("socket:[") else { return nil }
        return Substring(target.dropFirst(8).dropLast())
    })
}

/// How many of the sockets this process opened since `before` belong to the listener at
/// `path`: server ends of connections it accepted carry its path in /proc/net/unix (clients'
/// ends do not). Sockets other tests open meanwhile are not counted, so parallel suites
/// do not disturb it.
private func serverSocketsOpened(since before: Set<Substring>, listeningAt path: String) -> Int {
    let table = (try? String(contentsOfFile: "/proc/net/unix", encoding: .utf8)) ?? ""
    let ours = Set(table.split(separator: "\n").filter { $0.hasSuffix(" " + path) }.compactMap {
        $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(6).first
    })
    return openSocketInodes().subtracting(before).intersection(ours).count
}

/// A consumer whose `consume` blocks until released: a connection stuck in a call.
final class BlockingConsumer: StreamConsumer, @unchecked Sendable {
    let entered = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    let finished = DispatchSemaphore(value: 0)
    let ending = Mutex<String?>(nil)

    func consume(_ bytes: ArraySlice<UInt8>) throws {
        entered.signal()
        release.wait()
    }

    func finish(error: (any Error)?) {
        ending.withLock { $0 = error.map { "\($0)" } ?? "clean" }
        finished.signal()
    }
}

/// A started server, the path it listens on, and a semaphore `run()` signals when it returns.
struct RunningServer {
    let server: StreamServer
    let path: String
    let returned: DispatchSemaphore
}

@Suite(.serialized) struct ServingLimitsTests {
    func start(allowed: Set<UInt32> = [getuid()], limits: StreamServer.Limits, log: RecordedLog,
               drainTimeout: DispatchTimeInterval = .seconds(10),
               startThread: StreamServer.ThreadStarter? = nil,
               consumer: @escaping @Sendable () -> any StreamConsumer = { CountingConsumer() }) throws -> RunningServer {
        let path = try temporaryDirectory() + "/tandem.sock"
        let listener = try UnixSocket.listen(path: path)
        var starter = StreamServer.startDetachedThread
        if let startThread { starter = startThread }
        let server = StreamServer(listener: listener, allowedUIDs: allowed, captureDirectory: nil, logger: log.logger,
                                  limits: limits, startThread: starter, makeConsumer: { _, _ in consumer() })
        let returned = DispatchSemaphore(value: 0)
        let thread = Thread {
            try? server.run(drainTimeout: drainTimeout)
            returned.signal()
        }
        thread.start()
        return RunningServer(server: server, path: path, returned: returned)
    }

    @Test func connectionsPastTheLimitAreClosedAtOnceCountedAndLoggedWithoutLeakingDescriptors() throws {
        let log = RecordedLog()
        // The served connections send nothing: keep them open however slow the machine is.
        let running = try start(limits: .init(maxConnections: 2, silentAfter: .seconds(3600)), log: log)
        let served = try (0..<2).map { _ in try UnixSocket.connect(path: running.path).release() }
        #expect(eventually { running.server.statistics.accepted == 2 })
        let before = openSocketInodes()
        for _ in 0..<3 {
            let extra = try UnixSocket.connect(path: running.path).release()
            #expect(closedByPeer(extra), "a connection past max_connections must be closed by the server")
            close(extra)
        }
        #expect(running.server.statistics.overLimit == 3)
        #expect(running.server.statistics.accepted == 2)
        // The refused connections' server ends are closed, not kept.
        #expect(serverSocketsOpened(since: before, listeningAt: running.path) == 0)
        let lines = log.messages.withLock { $0.filter { $0.contains("receivers.profiling.max_connections") } }
        #expect(lines.count == 1, "one line, the rest rate-limited: \(lines)")
        #expect(lines.first?.contains("refused connection 3") == true)

        for fd in served { shutdown(fd, Int32(SHUT_WR)); #expect(closedByPeer(fd)); close(fd) }
        // Slots free again: a new connection is served.
        let again = try UnixSocket.connect(path: running.path).release()
        #expect(eventually { running.server.statistics.accepted == 3 })
        close(again)
        running.server.stop()
        #expect(running.returned.wait(timeout: .now() + 20) == .success)
        #expect(log.messages.withLock { $0.contains { $0.contains("2 more unserved connections not logged") } })
    }

    @Test func aConnectionThatSendsNothingIsClosedCountedAndFreesItsSlot() throws {
        let log = RecordedLog()
        let running = try start(limits: .init(maxConnections: 1, silentAfter: .milliseconds(200)), log: log)
        let idle = try UnixSocket.connect(path: running.path).release()
        #expect(closedByPeer(idle), "a connection that sends nothing must be closed, or it holds its slot for good")
        close(idle)
        #expect(running.server.statistics.silent == 1)
        #expect(log.messages.withLock { $0.contains { $0.contains("connection 1 sent nothing in") } })
        // Its thread gives the slot back once it has finished the empty stream.
        #expect(eventually { running.server.openConnectionCount == 0 })
        // Its slot is free again: the next connection is served, not refused.
        let next = try UnixSocket.connect(path: running.path).release()
        #expect(eventually { running.server.statistics.accepted == 2 })
        #expect(running.server.statistics.overLimit == 0)
        close(next)
        running.server.stop()
        #expect(running.returned.wait(timeout: .now() + 20) == .success)
    }

    @Test func aConnectionNoThreadCanBeStartedForIsClosedCountedAndLogged() throws {
        let log = RecordedLog()
        let running = try start(limits: .init(), log: log, startThread: { name, body throws(SystemCallError) in
            guard !name.hasPrefix("tandem-conn") else { throw SystemCallError("pthread_create", subject: name, errno: EAGAIN) }
            try DetachedThread.start(name: name, body)
        })
        let before = openSocketInodes()
        let client = try UnixSocket.connect(path: running.path).release()
        #expect(closedByPeer(client))
        close(client)
        #expect(eventually { running.server.statistics.threadFailures == 1 })
        #expect(running.server.statistics.accepted == 0)
        #expect(serverSocketsOpened(since: before, listeningAt: running.path) == 0)
        #expect(log.messages.withLock { $0.contains { $0.contains("closed connection 1") && $0.contains("pthread_create") } })
        running.server.stop()
        #expect(running.returned.wait(timeout: .now() + 20) == .success)
    }

    @Test func aStuckConnectionIsAbandonedCountedAndDoesNotHoldTheShutdown() throws {
        let log = RecordedLog()
        let consumer = BlockingConsumer()
        let made = Mutex(0)
        let running = try start(limits: .init(stuckAfter: .milliseconds(200)), log: log,
                                drainTimeout: .milliseconds(200), consumer: {
                                    made.withLock { $0 += 1; return $0 } == 1 ? consumer as any StreamConsumer : CountingConsumer()
                                })
        let client = try UnixSocket.connect(path: running.path).release()
        writeAll(client, Array(repeating: 0x41, count: 64))
        #expect(consumer.entered.wait(timeout: .now() + 20) == .success)
        // The watchdog shuts the socket down: the sampler sees its stream end and reconnects.
        #expect(closedByPeer(client), "the watchdog must shut a stuck connection's socket down")
        close(client)
        #expect(running.server.statistics.stuck == 1)
        #expect(log.messages.withLock { $0.contains { $0.hasPrefix("error: connection 1 is stuck: consuming 64 bytes") } })

        // The stuck thread does not hold the listener: another sampler is still served.
        let next = try UnixSocket.connect(path: running.path).release()
        #expect(eventually { running.server.statistics.accepted == 2 })
        close(next)

        // Nor the shutdown: run() returns after its drain timeout, naming what was lost.
        running.server.stop()
        #expect(running.returned.wait(timeout: .now() + 20) == .success)
        #expect(running.server.statistics.unfinished >= 1)
        #expect(log.messages.withLock { $0.contains { $0.contains("connection 1 still open after the shutdown timeout") && $0.contains("abandoned as stuck") } })

        // Once the call returns, the thread ends the stream as abandoned, not as a clean end.
        consumer.release.signal()
        #expect(consumer.finished.wait(timeout: .now() + 20) == .success)
        #expect(consumer.ending.withLock { $0 }?.contains("abandoned by the watchdog") == true)
    }

    @Test func refusedConnectionsLogABoundedNumberOfLinesAndTheCountIsKept() throws {
        let log = RecordedLog()
        let running = try start(allowed: [getuid() &+ 4242], limits: .init(logInterval: .seconds(3600)), log: log)
        for _ in 0..<50 {
            let client = try UnixSocket.connect(path: running.path).release()
            #expect(closedByPeer(client))
            close(client)
        }
        #expect(eventually { running.server.statistics.refused == 50 })
        running.server.stop()
        #expect(running.returned.wait(timeout: .now() + 20) == .success)
        let lines = log.messages.withLock { $0.filter { $0.hasPrefix("warning: refused connection ") } }
        #expect(lines.count == 1, "\(lines.count) lines for 50 refusals")
        #expect(log.messages.withLock { $0.contains { $0.contains("49 more refused connections not logged") } })
    }
}
