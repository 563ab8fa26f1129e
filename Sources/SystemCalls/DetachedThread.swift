#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts detached threads with `pthread_create`, reporting failure.
///
/// Foundation's `Thread.start()` returns nothing when the kernel refuses a thread
/// (`EAGAIN` under `TasksMax=` or `RLIMIT_NPROC`): the work silently never runs. Callers
/// must know, so that they can close and count a connection, or refuse to start.
public enum DetachedThread {
    /// Runs `body` on a new detached thread named `name` (the kernel keeps 15 bytes);
    /// throws the `pthread_create` error if no thread could be made, in which case `body`
    /// is released without running. The thread inherits the caller's signal mask.
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemCallError) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(ThreadContext(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { raw in
            let context = Unmanaged<ThreadContext>.fromOpaque(raw!).takeRetainedValue()
            context.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<ThreadContext>.fromOpaque(context).release()
            // pthread_create returns its error instead of setting errno.
            throw SystemCallError("pthread_create", subject: name, errno: result)
        }
    }
}

/// What a new thread runs, handed over through `pthread_create`'s argument.
private final class ThreadContext {
    let name: String
    let body: @Sendable () -> Void

    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }

    /// Names the calling thread, then runs `body`.
    func run() {
        nameCallingThread()
        body()
    }

    /// Writes `/proc/thread-self/comm`, what `pthread_setname_np` does for the calling
    /// thread (Swift's Glibc module does not import it, and `prctl` is variadic). A name
    /// is only a label for `top -H` and crash reports: failing to set one is ignored.
    private func nameCallingThread() {
        guard let comm = try? FileDescriptor.open("/proc/thread-self/comm", O_WRONLY) else { return }
        Array(name.utf8.prefix(15)).withUnsafeBytes { _ = try? comm.writeAll($0) }
    }
}
