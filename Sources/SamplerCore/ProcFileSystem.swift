import SystemCalls
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// Reads the few /proc and /sys files the sampler uses. `root` is `/proc` in
/// production; tests point it at a directory tree of their own.
public struct ProcFileSystem: Sendable {
    public var root: String

    public init(root: String = "/proc") {
        self.root = root
    }

    /// Reads a whole file with `open`/`read` (procfs files report size 0, so no stat),
    /// refusing to read more than `limit` bytes.
    public static func readBytes(_ path: String, limit: Int = 64 << 20) throws(SystemCallError) -> [UInt8] {
        let fd = try FileDescriptor.open(path, O_RDONLY)
        var bytes = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count: Int
            do {
                count = try fd.read(into: &chunk)
            } catch {
                throw SystemCallError("read", subject: path, errno: error.errno)
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit { throw SystemCallError("read(\(path)): larger than \(limit) bytes", errno: EFBIG) }
        }
    }

    public static func readText(_ path: String, limit: Int = 64 << 20) throws(SystemCallError) -> String {
        String(decoding: try readBytes(path, limit: limit), as: UTF8.self)
    }

    /// `readlink(2)`.
    public static func readLink(_ path: String) throws(SystemCallError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { throw .last("readlink(\(path))") }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The numeric entries of the root directory: every live process.
    public func processIDs() throws(SystemCallError) -> [Int32] {
        guard let directory = opendir(root) else { throw .last("opendir(\(root))") }
        defer { closedir(directory) }
        var pids: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let pid = Int32(name), pid > 0 { pids.append(pid) }
        }
        return pids.sorted()
    }

    /// Describes `pid` from its stat, comm, exe and cgroup files. `stat` is required (it
    /// proves the process exists); the others degrade to empty strings (kernel threads have
    /// no exe, and a process may exit between two reads).
    public func process(_ pid: Int32, isExec: Bool = false) throws(SystemCallError) -> ProcessInfo {
        let directory = "\(root)/\(pid)"
        let stat = try ProcFileSystem.readText("\(directory)/stat", limit: 4096)
        let parsed = ProcStat.parse(stat)
        let comm = (try? ProcFileSystem.readText("\(directory)/comm", limit: 64))?.trimmingWhitespace()
            ?? parsed?.comm ?? ""
        let executable = (try? ProcFileSystem.readLink("\(directory)/exe")) ?? ""
        let cgroup = (try? ProcFileSystem.readText("\(directory)/cgroup", limit: 65536)).map(CgroupFile.path) ?? ""
        return ProcessInfo(pid: pid, parentPID: parsed?.parentPID ?? 0,
                           startTime: parsed.map { ClockTicks.nanoseconds($0.startTimeTicks) } ?? 0,
                           comm: comm, executablePath: executable, cgroupPath: cgroup, isExec: isExec)
    }

    /// The executable mappings of `pid`: queried with `ioctl(PROCMAP_QUERY)` where the
    /// kernel has it, else parsed from the text of /proc/PID/maps.
    public func executableMappings(_ pid: Int32) throws(SystemCallError) -> [Mapping] {
        let path = "\(root)/\(pid)/maps"
        let fd = try FileDescriptor.open(path, O_RDONLY)
        if let mappings = try ProcMapQuery.executableMappings(fd: fd.rawValue, path: path) { return mappings }
        return MapsFile.executableMappings(try ProcFileSystem.readBytes("\(root)/\(pid)/maps"))
    }
}

/// The fields of /proc/PID/stat the sampler uses.
public struct ProcStat: Hashable, Sendable {
    public var comm: String
    public var parentPID: Int32
    /// Field 22: start time after boot, in clock ticks.
    public var startTimeTicks: UInt64

    /// Parses a stat line. The comm is the text between the first `(` and the LAST `)`,
    /// since a comm may itself hold parentheses and spaces.
    public static func parse(_ text: String) -> ProcStat? {
        let bytes = Array(text.utf8)
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")), close > open else { return nil }
        let comm = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        // After ") ": field 3 (state) is index 0 here, so field N is index N - 3.
        let rest = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard rest.count > 19,
              let parent = Int32(String(decoding: rest[1], as: UTF8.self)),
              let start = UInt64(String(decoding: rest[19], as: UTF8.self)) else { return nil }
        return ProcStat(comm: comm, parentPID: parent, startTimeTicks: start)
    }
}

enum ClockTicks {
    static let perSecond: UInt64 = {
        let value = sysconf(Int32(_SC_CLK_TCK))
        return value > 0 ? UInt64(value) : 100
    }()

    static func nanoseconds(_ ticks: UInt64) -> UInt64 {
        ticks &* (1_000_000_000 / perSecond)
    }
}

/// /proc/PID/cgroup.
public enum CgroupFile {
    /// The cgroup v2 path (the `0::` line) below the root, else the first v1 hierarchy's
    /// path below the root: a hybrid host keeps its containers' cgroups in the v1
    /// hierarchies while every process's v2 path is `/`.
    public static func path(_ text: String) -> String {
        let lines = text.split(separator: "\n")
        let unified = lines.first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
        if let unified, unified != "/" { return unified }
        let paths = lines.compactMap { $0.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).dropFirst(2).first }
        return paths.first { $0 != "/" && !$0.isEmpty }.map(String.init) ?? unified ?? paths.first.map(String.init) ?? ""
    }
}

/// /proc/PID/maps.
public enum MapsFile {
    /// The mappings whose permissions include `x`, in file order (ascending addresses).
    public static func executableMappings(_ text: String) -> [Mapping] {
        executableMappings(Array(text.utf8))
    }

    /// Works on the bytes: a busy process has thousands of lines, of which only the few
    /// executable ones are parsed beyond their permission field.
    public static func executableMappings(_ bytes: [UInt8]) -> [Mapping] {
        var mappings: [Mapping] = []
        bytes.withUnsafeBufferPointer { buffer in
            var lineStart = 0
            while lineStart < buffer.count {
                var lineEnd = lineStart
                while lineEnd < buffer.count, buffer[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                if let mapping = parseExecutable(UnsafeBufferPointer(rebasing: buffer[lineStart..<lineEnd])) {
                    mappings.append(mapping)
                }
                lineStart = lineEnd + 1
            }
        }
        return mappings
    }

    /// `start-end perms offset major:minor inode [path]`; nil unless executable.
    static func parseExecutable(_ line: UnsafeBufferPointer<UInt8>) -> Mapping? {
        var index = 0
        func skipSpaces() { while index < line.count, line[index] == UInt8(ascii: " ") { index += 1 } }
        func hexNumber(until terminator: UInt8) -> UInt64? {
            var value: UInt64 = 0
            let start = index
            while index < line.count, line[index] != terminator {
                let byte = line[index]
                let digit: UInt64
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt64(byte - UInt8(ascii: "a") + 10)
                default: return nil
                }
                guard value >> 60 == 0 else { return nil }
                value = value << 4 | digit
                index += 1
            }
            guard index > start, index < line.count else { return nil }
            index += 1  // the terminator
            return value
        }
        guard let start = hexNumber(until: UInt8(ascii: "-")), let end = hexNumber(until: UInt8(ascii: " ")) else { return nil }
        // Permissions `rwxp`: skip the line early unless executable.
        guard index + 4 < line.count, line[index + 2] == UInt8(ascii: "x") else { return nil }
        index += 4
        skipSpaces()
        guard let offset = hexNumber(until: UInt8(ascii: " ")),
              let major = hexNumber(until: UInt8(ascii: ":")),
              let minor = hexNumber(until: UInt8(ascii: " ")) else { return nil }
        var inode: UInt64 = 0
        var inodeDigits = 0
        while index < line.count, line[index] >= UInt8(ascii: "0"), line[index] <= UInt8(ascii: "9") {
            inode = inode &* 10 &+ UInt64(line[index] - UInt8(ascii: "0"))
            index += 1
            inodeDigits += 1
        }
        guard inodeDigits > 0 else { return nil }
        skipSpaces()
        var pathEnd = line.count
        while pathEnd > index, line[pathEnd - 1] == UInt8(ascii: " ") || line[pathEnd - 1] == UInt8(ascii: "\r") { pathEnd -= 1 }
        let path = String(decoding: UnsafeBufferPointer(rebasing: line[index..<pathEnd]), as: UTF8.self)
        return Mapping(start: start, end: end, fileOffset: offset,
                       device: makeDevice(major: major, minor: minor), inode: inode, path: path)
    }

    /// glibc's `makedev` (`makeDeviceNumber`).
    public static func makeDevice(major: UInt64, minor: UInt64) -> UInt64 {
        makeDeviceNumber(major: major, minor: minor)
    }
}

/// /proc/kallsyms and /proc/modules.
public enum KernelSymbolFiles {
    /// Code symbols only (`t`, `T`, `w`, `W`): the kernel stacks hold text addresses, and
    /// the data symbols would double the size of every connection's start.
    public static func textSymbols(_ text: String) -> [KernelSymbol] {
        var symbols: [KernelSymbol] = []
        symbols.reserveCapacity(text.utf8.count / 40)
        for line in text.split(separator: "\n") {
            // `address type name`, then a tab and `[module]` for module symbols.
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 3, let type = fields[1].utf8.first,
                  [UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "w"), UInt8(ascii: "W")].contains(type),
                  let address = UInt64(fields[0], radix: 16) else { continue }
            var module = ""
            if fields.count >= 4, fields[3].hasPrefix("["), fields[3].hasSuffix("]") {
                module = String(fields[3].dropFirst().dropLast())
            }
            symbols.append(KernelSymbol(address: address, type: type, name: String(fields[2]), module: module))
        }
        symbols.sort { $0.address < $1.address }
        return symbols
    }

    /// `name size refcount deps state address ...` lines.
    public static func modules(_ text: String) -> [KernelModule] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, let size = UInt64(fields[1]),
                  fields[5].hasPrefix("0x"), let start = UInt64(fields[5].dropFirst(2), radix: 16) else { return nil }
            return KernelModule(name: String(fields[0]), start: start, size: size)
        }
    }
}

/// Lists such as /sys/devices/system/cpu/online: `0-3,5,7-8`.
public enum CPUList {
    public static func parse(_ text: String) -> [Int]? {
        var cpus: [Int] = []
        let trimmed = text.trimmingWhitespace()
        if trimmed.isEmpty { return [] }
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            if bounds.count == 1, let cpu = Int(bounds[0]) {
                cpus.append(cpu)
            } else if bounds.count == 2, let low = Int(bounds[0]), let high = Int(bounds[1]), low <= high {
                cpus.append(contentsOf: low...high)
            } else {
                return nil
            }
        }
        return cpus
    }

    /// The online CPUs of this machine.
    public static func online() throws(SamplerError) -> [Int] {
        let path = "/sys/devices/system/cpu/online"
        let text: String
        do { text = try ProcFileSystem.readText(path) } catch { throw .systemCall(error) }
        guard let cpus = parse(text) else {
            throw .systemCall(SystemCallError("parse(\(path)): unexpected `\(text)`", errno: EINVAL))
        }
        return cpus
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
              let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
