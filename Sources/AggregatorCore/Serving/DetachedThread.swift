import Foundation
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Starts detached threads with `pthread_create`, reporting failure.
///
/// Foundation's `Thread.start()` returns nothing when the kernel refuses a thread
/// (`EAGAIN` under `TasksMax=` or `RLIMIT_NPROC`): the work silently never runs. The
/// server must know, so that it can close and count the connection instead.
enum DetachedThread {
    /// Runs `body` on a new detached thread named `name` (the kernel keeps 15 bytes);
    /// throws the `pthread_create` error if no thread could be made, in
    /// which case `body` is released without running.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemCallError) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(ThreadContext(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { raw in
            let context = Unmanaged<ThreadContext>.fromOpaque(raw!).takeRetainedValue()
            // Foundation names the calling thread with pthread_setname_np (not imported from Glibc).
            Thread.current.name = context.name
            context.body()
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
}
