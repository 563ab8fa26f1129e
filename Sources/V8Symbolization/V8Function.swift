import V8Layouts

/// A JavaScript function as its function record describes it: the name V8 gives it (its
/// own, or the one V8 inferred for an anonymous function from where it was assigned) and
/// its script's name. Decoded from the walker's raw copies with the record's layout.
public struct V8Function: Hashable, Sendable {
    /// What V8's own profiler calls a function with neither a name nor an inferred name.
    public static let anonymousName = "(anonymous)"

    public var name: String
    /// The script's name as V8 has it: a path, a `node:` module id, or empty (code from `eval`).
    public var scriptName: String
    /// Its bytecode's source position table (bytecode offset to script offset), as the walker
    /// copied it; empty when none came. Interpreted frames take their line from it.
    public var bytecodePositions: V8SourcePositionTable

    public init(name: String, scriptName: String, bytecodePositions: V8SourcePositionTable = V8SourcePositionTable(bytes: [])) {
        self.name = name
        self.scriptName = scriptName
        self.bytecodePositions = bytecodePositions
    }

    /// Decodes the two string copies; a copy that is no sequential string (unreadable,
    /// a cons string) counts as empty.
    public init(nameType: UInt16, name: [UInt8], scriptNameType: UInt16, scriptName: [UInt8],
                bytecodePositionTable: [UInt8] = [], layout: V8Layout) {
        bytecodePositions = V8SourcePositionTable(bytes: bytecodePositionTable)
        let decoded = name.isEmpty ? nil : V8String.decode(instanceType: nameType, bytes: name, layout: layout)
        self.name = decoded.flatMap { $0.isEmpty ? nil : $0 } ?? Self.anonymousName
        self.scriptName = scriptName.isEmpty ? ""
            : V8String.decode(instanceType: scriptNameType, bytes: scriptName, layout: layout) ?? ""
    }
}
