import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The version every stream header carries.
public enum SamplerVersion {
    public static let current = "0.1.0"
}

/// Facts about this host for the stream header.
enum HostFacts {
    static func monotonicNanoseconds() -> UInt64 {
        nanoseconds(CLOCK_MONOTONIC)
    }

    static func nanoseconds(_ clock: clockid_t) -> UInt64 {
        var time = timespec()
        clock_gettime(clock, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    static func clockReference() -> ClockReference {
        let monotonic = nanoseconds(CLOCK_MONOTONIC)
        let realtime = nanoseconds(CLOCK_REALTIME)
        return ClockReference(monotonicNanoseconds: monotonic, realtimeNanoseconds: realtime)
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func kernelRelease() -> String {
        var names = utsname()
        guard uname(&names) == 0 else { return "" }
        return withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func bootID() -> String {
        (try? ProcFileSystem.readText("/proc/sys/kernel/random/boot_id", limit: 256))?.trimmingWhitespace() ?? ""
    }

    /// The process's own CPU time, user and system, in nanoseconds.
    static func ownCPUTime() -> (user: UInt64, system: UInt64) {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func nanoseconds(_ time: timeval) -> UInt64 { UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_usec) * 1000 }
        return (nanoseconds(usage.ru_utime), nanoseconds(usage.ru_stime))
    }
}
