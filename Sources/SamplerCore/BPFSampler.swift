import CTandemBPF
import InterpreterLoading
import InterpreterRuntimes
import Logging
import OffCPULoading
import SystemCalls
import UnwindTableLoading
#if canImport(Glibc)
import Glibc
#endif

/// The loaded BPF program set: the perf_event program attached to one cpu-clock event
/// per CPU, the exec/exit raw tracepoints, the ring buffer they write into, and the
/// mmap'ed counters. Everything is opened by `init`, so capabilities can be dropped
/// afterwards; `deinit` detaches and closes it all.
public final class BPFSampler {
    /// Called for every ring buffer record, with the record's bytes (valid only during the call).
    public typealias RecordHandler = (UnsafeRawBufferPointer) -> Void

    private final class Sink {
        let handler: RecordHandler
        init(_ handler: @escaping RecordHandler) { self.handler = handler }
    }

    private let object: OpaquePointer
    private var links: [OpaquePointer] = []
    /// The off-CPU program's link, apart: stopping the sampling detaches it.
    private var offCPULink: OpaquePointer?
    /// One cpu-clock event per sampled CPU.
    private var perfEvents: [FileDescriptorReference] = []
    private var ringBuffer: OpaquePointer?
    private let sink: Sink
    private var counters: UnsafeMutableRawPointer?
    private var countersLength = 0
    /// The exec doorbell (bpf/sampler.bpf.c): its ring, drained only to empty it, and its flag.
    private var doorbellRing: OpaquePointer?
    private var doorbellArmed: UnsafeMutableRawPointer?
    private let doorbellArmedLength = Int(sysconf(Int32(_SC_PAGESIZE)))
    /// Readable (poll(2)) once an exec rang the doorbell.
    public private(set) var doorbellDescriptor: Int32 = -1
    /// The CPUs that have a sampling event.
    public let cpus: [Int]
    /// The unwind-table maps; nil when unwinding with tables is off.
    private(set) var unwindMaps: BPFUnwindMaps?
    /// One loader per interpreter walker; without their maps when interpreter frames are off.
    private(set) var interpreters: [any InterpreterLoader] = []

    /// Loads the embedded BPF object and starts sampling `cpus` at `frequency` Hz.
    /// `unwindEntries` sizes the shared unwind-table entries array (8 bytes each); 0
    /// turns unwinding with tables off (the array keeps one entry).
    /// `walksInterpreters` fills the walkers' layouts: they walk processes the aggregator then names.
    /// `offCPUThreshold` (0...1): the share of switches off the CPU recorded; 0 loads no off-CPU program.
    public init(frequency: Int, cpus: [Int], ringBufferBytes: Int, unwindEntries: Int = 0, walksInterpreters: Bool = false,
                offCPUThreshold: Double = 0, logger: Logger, handler: @escaping RecordHandler) throws(SamplerError) {
        self.sink = Sink(handler)
        self.cpus = cpus
        let bytes = EmbeddedBPFObjects.decodedSampler
        let opened: OpaquePointer? = bytes.withUnsafeBytes {
            tandem_bpf_object_open_mem($0.baseAddress, $0.count, "tandem_sampler")
        }
        guard let opened else {
            throw .bpfUnavailable(.last("bpf_object__open_mem"), verifierLog: "")
        }
        object = opened
        // From here on, deinit cleans up whatever was set up when a step throws.

        guard let events = bpf_object__find_map_by_name(object, "events") else {
            throw .systemCall(SystemCallError("bpf_object__find_map_by_name(events)", errno: ENOENT))
        }
        guard bpf_map__set_max_entries(events, UInt32(ringBufferBytes)) == 0 else {
            throw .systemCall(.last("bpf_map__set_max_entries(events, \(ringBufferBytes))"))
        }
        guard let entriesMap = bpf_object__find_map_by_name(object, "unwind_entries"),
              bpf_map__set_max_entries(entriesMap, UInt32(max(1, unwindEntries))) == 0 else {
            throw .systemCall(.last("bpf_map__set_max_entries(unwind_entries, \(unwindEntries))"))
        }
        do { try OffCPUProbes.prepare(object: object, enabled: offCPUThreshold > 0) } catch { throw .systemCall(error) }
        guard bpf_object__load(object) == 0 else {
            let error = SystemCallError.last("bpf_object__load")
            if access("/sys/kernel/btf/vmlinux", R_OK) != 0 { throw .btfUnavailable(path: "/sys/kernel/btf/vmlinux") }
            if error.errno == EPERM || error.errno == EACCES,
               let capabilities = try? ProcessCapabilities.current() {
                let missing = [Capability.bpf, .perfmon].filter { !capabilities.hasEffective($0) }
                if !missing.isEmpty { throw .missingCapabilities(missing) }
            }
            throw .bpfUnavailable(error, verifierLog: "")
        }

        // Counters: an mmap'ed array, readable later without any capability.
        guard let countersMap = bpf_object__find_map_by_name(object, "counters") else {
            throw .systemCall(SystemCallError("bpf_object__find_map_by_name(counters)", errno: ENOENT))
        }
        countersLength = max(Int(sysconf(Int32(_SC_PAGESIZE))), Int(TANDEM_COUNTER_COUNT.rawValue) * 8)
        let mapped = mmap(nil, countersLength, PROT_READ, MAP_SHARED, bpf_map__fd(countersMap), 0)
        guard let mapped, mapped != MAP_FAILED else { throw .systemCall(.last("mmap(counters)")) }
        counters = mapped
        guard let doorbell = bpf_object__find_map_by_name(object, "doorbell"),
              let armedMap = bpf_object__find_map_by_name(object, "doorbell_armed") else {
            throw .systemCall(SystemCallError("bpf_object__find_map_by_name(doorbell)", errno: ENOENT))
        }
        let armed = mmap(nil, doorbellArmedLength, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(armedMap), 0)
        guard let armed, armed != MAP_FAILED else { throw .systemCall(.last("mmap(doorbell_armed)")) }
        doorbellArmed = armed
        doorbellDescriptor = bpf_map__fd(doorbell)
        doorbellRing = ring_buffer__new(doorbellDescriptor, { _, _, _ in 0 }, nil, nil)
        guard doorbellRing != nil else { throw .systemCall(.last("ring_buffer__new(doorbell)")) }
        if unwindEntries > 0 {
            do { unwindMaps = try BPFUnwindMaps(object: object, entryCapacity: unwindEntries) } catch { throw .systemCall(error) }
        }
        do { interpreters = try InterpreterRuntimes.loaders(object: walksInterpreters ? object : nil) } catch {
            throw .systemCall(error)
        }

        let context = Unmanaged.passUnretained(sink).toOpaque()
        ringBuffer = ring_buffer__new(bpf_map__fd(events), { context, data, size in
            guard let context, let data else { return 0 }
            // Borrowed, not retained per record: the sink outlives the ring buffer (deinit).
            Unmanaged<Sink>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.handler(UnsafeRawBufferPointer(start: data, count: size)) }
            return 0
        }, context, nil)
        guard ringBuffer != nil else { throw .systemCall(.last("ring_buffer__new")) }

        for name in ["tandem_exec", "tandem_exit"] {
            guard let program = bpf_object__find_program_by_name(object, name) else {
                throw .systemCall(SystemCallError("bpf_object__find_program_by_name(\(name))", errno: ENOENT))
            }
            guard let link = bpf_program__attach(program) else {
                throw .bpfUnavailable(.last("bpf_program__attach(\(name))"), verifierLog: "")
            }
            links.append(link)
        }

        guard let sampleProgram = bpf_object__find_program_by_name(object, "tandem_sample") else {
            throw .systemCall(SystemCallError("bpf_object__find_program_by_name(tandem_sample)", errno: ENOENT))
        }
        for cpu in cpus {
            let fd = tandem_perf_open_cpu_clock(Int32(cpu), UInt(frequency))
            guard fd >= 0 else {
                let error = SystemCallError.last("perf_event_open(cpu-clock, cpu \(cpu))")
                if error.errno == EACCES || error.errno == EPERM {
                    let level = (try? ProcFileSystem.readText("/proc/sys/kernel/perf_event_paranoid"))
                        .flatMap { Int($0.trimmingWhitespace()) } ?? 2
                    throw .perfEventParanoid(level: level, error)
                }
                throw .perfEventUnavailable(error)
            }
            perfEvents.append(FileDescriptorReference(FileDescriptor(owning: fd)))
            // Attaching also enables the event.
            guard let link = bpf_program__attach_perf_event(sampleProgram, fd) else {
                throw .bpfUnavailable(.last("bpf_program__attach_perf_event(cpu \(cpu))"), verifierLog: "")
            }
            links.append(link)
        }
        if offCPUThreshold > 0 {
            do { offCPULink = try OffCPUProbes.attach(object: object, probability: offCPUThreshold) } catch {
                throw .bpfUnavailable(error, verifierLog: "")
            }
        }
        logger.debug("BPF programs attached", metadata: ["cpus": "\(cpus)", "frequency": "\(frequency)",
                                                         "off_cpu_threshold": "\(offCPUThreshold)"])
        if walksInterpreters {
            WalkerPrograms.startLoading(for: interpreters, objects: EmbeddedBPFObjects.byName, decode: EmbeddedBPFObjects.decodeHex,
                                        sharingMapsOf: object, logger: logger)
        }
    }

    deinit {
        for link in links { bpf_link__destroy(link) }
        if let offCPULink { bpf_link__destroy(offCPULink) }
        perfEvents.removeAll()  // closes the events, once their links are gone
        if let ringBuffer { ring_buffer__free(ringBuffer) }
        if let doorbellRing { ring_buffer__free(doorbellRing) }
        if let counters { munmap(counters, countersLength) }
        if let doorbellArmed { munmap(doorbellArmed, doorbellArmedLength) }
        bpf_object__close(object)
    }

    /// Disables every sampling event (`ioctl(PERF_EVENT_IOC_DISABLE)`) and detaches the
    /// off-CPU program. The ioctl returns once the event is off on its CPU, so no sample is
    /// taken after it: a drain that follows sees every sample the counters count (off-CPU
    /// ones but for a run already under way on another CPU as the link goes). Exec and
    /// exit events go on.
    public func stopSampling() {
        for event in perfEvents { _ = tandem_perf_disable(event.rawValue) }
        if let offCPULink { bpf_link__destroy(offCPULink) }
        offCPULink = nil
    }

    /// Hands every record in the ring buffer to the handler; returns how many.
    @discardableResult
    public func drain() throws(SamplerError) -> Int {
        let count = ring_buffer__consume(ringBuffer)
        guard count >= 0 else { throw .systemCall(SystemCallError("ring_buffer__consume", errno: -count)) }
        return Int(count)
    }

    /// Arms the doorbell (the next exec rings it, once) or disarms it, and empties its ring.
    public func setDoorbell(armed: Bool) {
        doorbellArmed?.storeBytes(of: armed ? 1 : 0, as: UInt64.self)
        ring_buffer__consume(doorbellRing)
    }

    /// A counter of the BPF side (see `enum tandem_counter`).
    public func counter(_ counter: tandem_counter) -> UInt64 {
        guard let counters else { return 0 }
        // The BPF side adds atomically; an aligned 64-bit load sees a whole value.
        return counters.load(fromByteOffset: Int(counter.rawValue) * 8, as: UInt64.self)
    }
}

extension EmbeddedBPFObjects {
    /// The BPF object of bpf/sampler.bpf.c.
    static var decodedSampler: [UInt8] { decodeHex(sampler) }

    static func decodeHex(_ text: String) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for character in text.utf8 {
            let value: UInt8 = character <= UInt8(ascii: "9") ? character &- UInt8(ascii: "0") : character &- UInt8(ascii: "a") &+ 10
            if let first = high {
                bytes.append(first << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return bytes
    }
}
