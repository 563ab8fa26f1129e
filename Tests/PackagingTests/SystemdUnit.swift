import Foundation

/// A systemd unit file read as systemd reads it for our purposes: sections of
/// `Key=Value` lines, a key may repeat, `#` and `;` start comments.
struct SystemdUnit {
    let name: String
    let path: String
    private(set) var sections: [String: [(key: String, value: String)]] = [:]

    init(path: String) throws {
        self.path = path
        self.name = (path as NSString).lastPathComponent
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var current = ""
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast())
                continue
            }
            guard let equals = line.firstIndex(of: "="), !current.isEmpty else {
                throw PackagingTestError("\(path):\(index + 1): not a `Key=Value` line inside a section: \(line)")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[current, default: []].append((key, value))
        }
    }

    /// Every value of `key` in `section`, in order.
    func values(_ key: String, in section: String = "Service") -> [String] {
        (sections[section] ?? []).filter { $0.key == key }.map(\.value)
    }

    /// The last value of `key` (what systemd applies for a single-valued setting).
    func value(_ key: String, in section: String = "Service") -> String? {
        values(key, in: section).last
    }

    /// The space-separated words of every value of `key`.
    func words(_ key: String, in section: String = "Service") -> [String] {
        values(key, in: section).flatMap { $0.split(separator: " ").map(String.init) }
    }
}

/// The three units the package ships.
enum TandemUnits {
    static let sampler = "tandem-sampler.service"
    static let aggregator = "tandem-aggregator.service"
    static let socket = "tandem-aggregator.socket"
    static let all = [sampler, aggregator, socket]

    static func path(_ name: String) -> String { packagingFile("systemd/\(name)").path }
    static func load(_ name: String) throws -> SystemdUnit { try SystemdUnit(path: path(name)) }
}

/// The system calls a `SystemCallFilter=` group (`@name`) or single name stands for,
/// as this machine's systemd resolves them.
func systemCalls(of entry: String) throws -> Set<String> {
    guard entry.hasPrefix("@") else { return [entry] }
    let systemdAnalyze = try requireTool("systemd-analyze", package: "apt-get install systemd")
    let result = try run(systemdAnalyze, ["syscall-filter", entry])
    guard result.status == 0 else {
        throw PackagingTestError("systemd-analyze syscall-filter \(entry) failed: \(result.combined)")
    }
    var names: Set<String> = []
    for line in result.standardOutput.split(separator: "\n") {
        let word = line.trimmingCharacters(in: .whitespaces)
        // Member lines are indented names; the group header and comments are not.
        guard line.hasPrefix(" "), !word.isEmpty, !word.hasPrefix("#") else { continue }
        if word.hasPrefix("@") {
            names.formUnion(try systemCalls(of: word))
        } else {
            names.insert(word)
        }
    }
    return names
}

/// The system calls a unit's `SystemCallFilter=` lines allow, applying them in order as
/// systemd does: the first line decides allow list or deny list; later `~` lines remove
/// from an allow list, later plain lines add to it.
func allowedSystemCalls(_ unit: SystemdUnit) throws -> Set<String> {
    var allowed: Set<String> = []
    for (index, value) in unit.values("SystemCallFilter").enumerated() {
        let denies = value.hasPrefix("~")
        let entries = (denies ? String(value.dropFirst()) : value).split(separator: " ").map(String.init)
        if index == 0 && denies {
            throw PackagingTestError("\(unit.name): the first SystemCallFilter= is a deny list; the units use allow lists")
        }
        for entry in entries {
            let calls = try systemCalls(of: entry)
            if denies { allowed.subtract(calls) } else { allowed.formUnion(calls) }
        }
    }
    return allowed
}
