import CTandemBPF
import Logging
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Loads the interpreter walkers' BPF programs after the sampling program, so that the
/// sampler's start does not wait for the verifier to check them (about a second each, more
/// on a busy machine; docs/benchmarks.md).
///
/// Each walker is an object of its own (bpf/<runtime>_walker.bpf.c) that shares the
/// sampling object's maps by descriptor (`bpf_map__reuse_fd`); once loaded, its program goes
/// into the sampling program's `interpreter_programs`, and from then on the runtime's
/// processes are walked. Until then, or when the kernel refuses a walker, their samples are
/// plain ones.
///
/// The loading runs in a short-lived child process, forked before the sampler drops its
/// capabilities: loading takes `CAP_BPF`, and the sampler itself keeps none of it once it
/// reads what the aggregator sends (docs/security.md). The child reads nothing but the
/// embedded objects and the descriptors it inherits, and exits when the last walker is in.
package enum WalkerPrograms {
    /// One walker's object: its name in the stop log, its bytes, its program's slot.
    package struct Walker: Sendable {
        package var name: String
        package var object: [UInt8]
        package var slot: UInt32

        package init(name: String, object: [UInt8], slot: UInt32) {
            self.name = name
            self.object = object
            self.slot = slot
        }
    }

    /// Starts loading the walkers of `loaders`, found by name in `objects` (hex, turned into
    /// bytes by `decode`), as `startLoading(_:sharingMapsOf:logger:)` does: first those of
    /// the runtimes that run most, by the names of the executables running now, so that a
    /// host's own runtimes do not wait for the verifier to check the others.
    package static func startLoading(for loaders: [any InterpreterLoader], objects: [String: String],
                                     decode: (String) -> [UInt8], sharingMapsOf sampler: OpaquePointer, logger: Logger) {
        let executables = runningExecutableNames()
        let running = Dictionary(uniqueKeysWithValues: loaders.map { loader in
            (loader.walkerSlot, executables.filter { $0.contains(loader.executableNameHint) }.count)
        })
        let ordered = loaders.enumerated().sorted { (running[$0.element.walkerSlot]!, -$0.offset) > (running[$1.element.walkerSlot]!, -$1.offset) }
        startLoading(ordered.compactMap { _, loader in
            objects[loader.walkerObjectName].map { Walker(name: loader.walkerObjectName, object: decode($0), slot: loader.walkerSlot) }
        }, sharingMapsOf: sampler, logger: logger)
    }

    /// Starts loading `walkers` beside the loaded sampling object `sampler`, in a child
    /// process (`fork` twice: the sampler never waits for it, and it leaves no zombie).
    /// Where the sampler cannot fork alone (another thread runs, or `fork` fails), it loads
    /// them itself before returning.
    package static func startLoading(_ walkers: [Walker], sharingMapsOf sampler: OpaquePointer, logger: Logger) {
        guard !walkers.isEmpty else { return }
        guard threadCount() == 1 else {
            // After fork only the calling thread runs on: a lock another thread held stays held.
            logger.debug("loading the interpreter walkers in the sampler itself: it runs more than one thread")
            load(walkers, sharingMapsOf: sampler, logger: logger)
            return
        }
        let child = fork()
        if child == 0 {
            let loader = fork()
            guard loader == 0 else { _exit(loader > 0 ? 0 : 1) }
            // The sampler's signal handling is its own: this process ends on SIGTERM.
            var none = sigset_t()
            sigemptyset(&none)
            sigprocmask(SIG_SETMASK, &none, nil)
            // The verifier checks a walker on this process's CPU time, a second or two each on
            // an idle CPU: ahead of busy workloads, their samples are named seconds sooner
            // (the CPU spent is the same, once; root may raise a priority).
            setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, -10)
            closeInheritedDescriptors(keeping: mapDescriptors(of: sampler))
            let failures = load(walkers, sharingMapsOf: sampler, logger: logger)
            // _exit: no deinit or atexit handler of the sampler's may run here (its links
            // would detach the sampler's own programs).
            _exit(failures == 0 ? 0 : 1)
        }
        var status: Int32 = 0
        if child > 0 {
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        }
        guard child > 0, status == 0 else {
            logger.debug("loading the interpreter walkers in the sampler itself: fork failed",
                         metadata: ["error": "\(SystemCallError.last("fork"))"])
            load(walkers, sharingMapsOf: sampler, logger: logger)
            return
        }
    }

    /// Loads each walker and puts its program in its slot; returns how many failed (each
    /// is logged with its cause, and its runtime's processes get plain samples).
    @discardableResult
    static func load(_ walkers: [Walker], sharingMapsOf sampler: OpaquePointer, logger: Logger) -> Int {
        var failures = 0
        for walker in walkers {
            let start = ContinuousClock.now
            do {
                try load(walker, sharingMapsOf: sampler)
                logger.info("interpreter walker loaded", metadata: [
                    "walker": "\(walker.name)", "took": "\(start.duration(to: .now))",
                    "pid": "\(getpid())",
                ])
            } catch {
                failures += 1
                logger.error("""
                    the \(walker.name) walker's BPF program did not load: \(error); its runtime's \
                    samples have native frames only. libbpf printed the verifier's log above; report \
                    it with the kernel version (uname -r)
                    """)
            }
        }
        logger.info("interpreter walkers ready", metadata: ["loaded": "\(walkers.count - failures)", "failed": "\(failures)"])
        return failures
    }

    /// Opens `walker.object` (`bpf_object__open_mem`), points each of its maps at the
    /// sampling object's map of that name (`bpf_map__reuse_fd`), loads it
    /// (`bpf_object__load`) and writes its one program into `interpreter_programs`. The
    /// object stays open: its program lives as long as the slot holds it, and the child
    /// that loaded it exits.
    private static func load(_ walker: Walker, sharingMapsOf sampler: OpaquePointer) throws(SystemCallError) {
        let opened: OpaquePointer? = walker.object.withUnsafeBytes {
            tandem_bpf_object_open_mem($0.baseAddress, $0.count, walker.name)
        }
        guard let object = opened else { throw .last("bpf_object__open_mem(\(walker.name))") }
        var map = bpf_object__next_map(object, nil)
        while let current = map {
            let name = String(cString: bpf_map__name(current))
            if let shared = bpf_object__find_map_by_name(sampler, name) {
                guard bpf_map__reuse_fd(current, bpf_map__fd(shared)) == 0 else {
                    throw .last("bpf_map__reuse_fd(\(name))")
                }
            } else if !name.contains(".") {
                // Only the object's own constants (.rodata, .bss) may be private: a walker
                // reading a map nobody writes would walk nothing.
                throw SystemCallError("bpf_object__find_map_by_name(\(name)) in the sampling object", errno: ENOENT)
            }
            map = bpf_object__next_map(object, current)
        }
        guard bpf_object__load(object) == 0 else { throw .last("bpf_object__load(\(walker.name))") }
        guard let program = bpf_object__next_program(object, nil) else {
            throw SystemCallError("bpf_object__next_program(\(walker.name))", errno: ENOENT)
        }
        guard let programs = bpf_object__find_map_by_name(sampler, "interpreter_programs") else {
            throw SystemCallError("bpf_object__find_map_by_name(interpreter_programs)", errno: ENOENT)
        }
        var slot = walker.slot
        var descriptor = bpf_program__fd(program)
        guard bpf_map_update_elem(bpf_map__fd(programs), &slot, &descriptor, UInt64(BPF_ANY)) == 0 else {
            throw .last("bpf_map_update_elem(interpreter_programs, \(walker.slot))")
        }
    }

    /// The file names of the executables of the processes running now (`readlink` of each
    /// /proc/PID/exe; kernel threads and processes that exit meanwhile have none).
    private static func runningExecutableNames() -> [String] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        var target = [CChar](repeating: 0, count: 4096)
        while let entry = readdir(directory) {
            let pid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard pid.first?.isNumber == true else { continue }
            let length = readlink("/proc/\(pid)/exe", &target, target.count - 1)
            guard length > 0 else { continue }
            let path = String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            names.append(String(path.split(separator: "/").last ?? ""))
        }
        return names
    }

    /// The descriptors of `object`'s maps, which the walkers' objects share.
    private static func mapDescriptors(of object: OpaquePointer) -> Set<Int32> {
        var descriptors: Set<Int32> = []
        var map = bpf_object__next_map(object, nil)
        while let current = map {
            descriptors.insert(bpf_map__fd(current))
            map = bpf_object__next_map(object, current)
        }
        return descriptors
    }

    /// Closes every descriptor this process inherited but `kept` and the standard three. A
    /// link, perf event or socket still open here would outlive the sampler's own close of
    /// it: the off-CPU program would stay attached after the sampler stopped it, and an
    /// aggregator would not see the connection end.
    private static func closeInheritedDescriptors(keeping kept: Set<Int32>) {
        guard let directory = opendir("/proc/self/fd") else { return }
        var open: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let descriptor = Int32(name) { open.append(descriptor) }
        }
        let listing = dirfd(directory)
        closedir(directory)
        for descriptor in open where descriptor > 2 && descriptor != listing && !kept.contains(descriptor) {
            close(descriptor)
        }
    }

    /// The number of threads of this process (the entries of /proc/self/task).
    private static func threadCount() -> Int {
        guard let directory = opendir("/proc/self/task") else { return Int.max }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != 0x2E { count += 1 }  // not "." or ".."
        }
        return count
    }
}
