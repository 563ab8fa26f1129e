#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGINT, which `serve` takes with `sigwait` on a thread of its own so that
/// shutdown runs as ordinary code (flush the exporters, write the outputs).
///
/// A signal sent to the process goes to any thread that does not block it, and its
/// default action ends the whole process. So the signals are blocked with
/// `pthread_sigmask` in `main`, before any thread exists: every thread started later
/// (exporters, connections, compile workers, Dispatch's pool) inherits the mask, and no
/// code added later can start a thread early enough to miss it.
enum ShutdownSignals {
    static var set: sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        return signals
    }

    /// Blocks them on the calling thread (`pthread_sigmask(SIG_BLOCK)`); threads it starts inherit that.
    static func block() {
        var signals = set
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    /// Unblocks them on the calling thread, for the commands that want the default action (end at once).
    static func unblock() {
        var signals = set
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    /// Waits for one of them (`sigwait`) and returns its number. They must be blocked.
    static func wait() -> Int32 {
        var signals = set
        var caught: Int32 = 0
        while sigwait(&signals, &caught) != 0 {}
        return caught
    }
}
