extension Frame {
    // One rule for the text outputs: an interpreted frame with a (non-empty) source file
    // (`interpretedSourceFile`) shows it after its name, in parentheses, as py-spy and
    // speedscope users read Python stacks; machine-code frames (native, kernel, Go, Rust)
    // show `displayName` alone, unchanged, whether or not their line is known. Structured
    // outputs (pprof, OTLP) carry name, file and line in their own fields instead.

    /// The frame in a stack (folded stacks, flame graph): `Worker.run (worker.py:42)`;
    /// the line keeps two calls from one function apart. Without a known line:
    /// `Worker.run (worker.py)`.
    public var locationLabel: String {
        guard let sourceFile = interpretedSourceFile, !sourceFile.isEmpty else { return displayName }
        let file = Self.shortSourceFileName(sourceFile)
        return sourceLine == 0 ? "\(displayName) (\(file))" : "\(displayName) (\(file):\(sourceLine))"
    }

    /// The function, for tables that add up its lines (the text report's top
    /// functions): `Worker.run (worker.py)`. The file keeps functions of the same
    /// name in different modules apart.
    public var functionLabel: String {
        guard let sourceFile = interpretedSourceFile, !sourceFile.isEmpty else { return displayName }
        return "\(displayName) (\(Self.shortSourceFileName(sourceFile)))"
    }

    /// A source path as labels show it: its last component, which is what fits in a
    /// flame graph, with the package directory for the module files every package has
    /// (`requests/__init__.py`), which would say nothing alone. pprof and OTLP keep
    /// the whole path.
    public static func shortSourceFileName(_ path: String) -> String {
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        guard let last = components.last else { return path }
        if (last == "__init__.py" || last == "__main__.py"), components.count >= 2 {
            return "\(components[components.count - 2])/\(last)"
        }
        return String(last)
    }
}
