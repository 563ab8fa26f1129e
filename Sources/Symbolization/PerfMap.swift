import Profiles

/// A JIT's symbol file, `/tmp/perf-PID.map`: one `START SIZE name` line per code
/// region, START and SIZE in hex (with or without `0x`), written by V8
/// (`--perf-basic-prof`), the JVM (perf-map-agent, `jcmd Compiler.perfmap`),
/// CPython 3.12+ (`-X perf`), .NET (`DOTNET_PerfMapEnabled`), BEAM (`+JPperf true`) and others.
/// Each entry's type is the runtime its name's shape tells, or `native`; the process's
/// runtime (`JITRuntime`) overrides it, and `runtime` stands in when no file tells one.
struct PerfMap {
    private(set) var starts: [UInt64] = []
    private(set) var ends: [UInt64] = []
    private(set) var names: [String] = []
    private(set) var types: [FrameType] = []
    /// Lines that were not `START SIZE name`.
    private(set) var malformedLines = 0
    /// The runtime most entries' shapes name (ties: the first in `FrameType`'s order), nil
    /// when none names one: the process's runtime when its files tell none.
    private(set) var runtime: FrameType?

    init() {}

    init(parsing text: String) {
        var entries: [(start: UInt64, end: UInt64, name: Substring)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, let start = Self.hex(fields[0]), let size = Self.hex(fields[1]), size > 0,
                  !fields[2].isEmpty
            else {
                malformedLines += 1
                continue
            }
            entries.append((start, start &+ size, fields[2]))
        }
        // Later lines win for equal starts (a JIT may reuse an address for new code).
        entries = entries.enumerated().sorted { ($0.element.start, $0.offset) < ($1.element.start, $1.offset) }.map(\.element)
        for entry in entries {
            let name = String(entry.name)
            if let last = starts.last, last == entry.start {
                ends[ends.count - 1] = entry.end
                names[names.count - 1] = name
                types[types.count - 1] = Self.runtime(ofSymbol: name)
                continue
            }
            starts.append(entry.start)
            ends.append(entry.end)
            names.append(name)
            types.append(Self.runtime(ofSymbol: name))
        }
        var counts: [FrameType: Int] = [:]
        for type in types where type != .native { counts[type, default: 0] += 1 }
        runtime = FrameType.allCases.filter { counts[$0] != nil }.max { counts[$0]! < counts[$1]! }
    }

    var count: Int { starts.count }

    private static func hex(_ field: Substring) -> UInt64? {
        let digits = field.hasPrefix("0x") || field.hasPrefix("0X") ? field.dropFirst(2) : field
        return UInt64(digits, radix: 16)
    }

    /// The entry covering `address`: its name and runtime.
    func lookup(_ address: UInt64) -> (name: String, type: FrameType)? {
        var low = 0
        var high = starts.count
        while low < high {
            let middle = (low + high) / 2
            if starts[middle] <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0, address < ends[low - 1] else { return nil }
        return (names[low - 1], types[low - 1])
    }

    private static let v8Prefixes = [
        "JS:", "LazyCompile:", "Function:", "Builtin:", "BytecodeHandler:", "Script:", "Eval:", "Stub:",
        "RegExp:", "Handler:", "InterpretedFunction:", "Callback:", "KeyedLoadIC:", "KeyedStoreIC:",
        "LoadIC:", "StoreIC:", "LoadGlobalIC:", "StoreGlobalIC:", "Baseline:", "Maglev:", "Turbofan:",
    ]

    private static let dotnetTiers = [
        "[OptimizedTier1]", "[Optimized]", "[OptimizedTier1OSR]", "[PreJIT]", "[QuickJitted]", "[Tier0]",
        "[Tier1]", "[Tier-0]", "[Tier-1]", "[MinOptJitted]", "[Instrumented]", "[InstrumentedTier]",
        "[InstrumentedTier1]", "[OSR]",
    ]

    /// The runtime a perf-map symbol belongs to, from the naming conventions of each JIT.
    static func runtime(ofSymbol name: String) -> FrameType {
        if name.hasPrefix("py::") { return .cpython }
        for prefix in v8Prefixes where name.hasPrefix(prefix) { return .v8js }
        if name.hasSuffix("]") {
            for tier in dotnetTiers where name.hasSuffix(tier) { return .dotnet }
        }
        if isBEAM(name) { return .beam }
        if name == "Interpreter" || name.hasPrefix("Interpreter ") { return .jvm }
        // perf-map-agent: `Ljava/lang/String;::hashCode`; JDK perfmap: `java.lang.String::hashCode`.
        if name.hasPrefix("L"), name.contains(";"), name.contains("/") { return .jvm }
        for prefix in ["java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin."] where name.hasPrefix(prefix) { return .jvm }
        if name.hasPrefix("StubRoutines") || name.hasPrefix("i2c/") || name.hasPrefix("c2i/")
            || name.hasPrefix("I2C/C2I adapters") { return .jvm }
        if isJavaSignature(name) { return .jvm }
        return .native
    }

    /// BEAM's JIT (`+JPperf true`): `$module:function/arity`, `$module::codeHeader`,
    /// `$global::shared_fragment`; Elixir modules are atoms starting `Elixir.`.
    private static func isBEAM(_ name: String) -> Bool {
        if name.hasPrefix("Elixir.") { return true }
        guard name.hasPrefix("$"), let colon = name.firstIndex(of: ":") else { return false }
        let module = name[name.index(after: name.startIndex)..<colon]
        return !module.isEmpty && !module.contains(" ")
    }

    /// HotSpot's own perf map (`-XX:+DumpPerfMapAtExit`, `jcmd Compiler.perfmap`) names a
    /// compiled method by its signature: `int Prog.fn_alpha(int, int)`, a return type, then a
    /// dotted `Class.method` and the argument list. No `::` (C++, .NET) and no ` -> ` (Swift).
    private static func isJavaSignature(_ name: String) -> Bool {
        guard name.hasSuffix(")"), !name.contains("::"), !name.contains(" -> "),
              let paren = name.firstIndex(of: "("), let space = name[..<paren].lastIndex(of: " ")
        else { return false }
        let method = name[name.index(after: space)..<paren]
        guard let dot = method.lastIndex(of: ".") else { return false }
        return dot > method.startIndex && method.index(after: dot) < method.endIndex
    }
}
