import CPythonLayouts

/// One code object as a code record describes it (`tandem_cpython_code_event`): the five
/// copies the walker made, each from its object's first byte and possibly cut short,
/// decoded with the layout of the record's version.
public struct CPythonCode: Hashable, Sendable {
    /// `co_qualname` where the version has it (3.11+) and its copy is there, else `co_name`.
    public var name: CPythonString
    public var fileName: CPythonString
    /// `co_firstlineno`: the line of a frame whose instruction has none.
    public var firstLine: Int
    public var lineTable: CPythonLineTable
    /// The line-table copy ended before the table did.
    public var lineTableIsCut: Bool

    public init(name: CPythonString, fileName: CPythonString, firstLine: Int, lineTable: CPythonLineTable, lineTableIsCut: Bool) {
        self.name = name
        self.fileName = fileName
        self.firstLine = firstLine
        self.lineTable = lineTable
        self.lineTableIsCut = lineTableIsCut
    }

    /// Decodes the copies of one record. An empty `qualifiedName` (a version without
    /// `co_qualname`, or an unreadable copy) falls back to `name`.
    public init(header: [UInt8], name: [UInt8], qualifiedName: [UInt8], file: [UInt8], lineTable: [UInt8],
                layout: CPythonLayout) throws(CPythonObjectError) {
        let firstLine = Int(try header.loadLittleEndian(Int32.self, at: layout.codeFirstLine.present("co_firstlineno"),
                                                        object: "code"))
        let decodedName = layout.codeQualifiedName != CPythonLayout.absent && !qualifiedName.isEmpty
            ? try CPythonString(copy: qualifiedName, layout: layout)
            : try CPythonString(copy: name, layout: layout)
        let table = try CPythonBytes(copy: lineTable, layout: layout)
        self.init(name: decodedName, fileName: try CPythonString(copy: file, layout: layout), firstLine: firstLine,
                  lineTable: CPythonLineTable(bytes: table.bytes, isCut: table.isCut, firstLine: firstLine, layout: layout),
                  lineTableIsCut: table.isCut)
    }

    /// The line of a frame of this code (`tandem_cpython_frame.instruction`), nil when the
    /// table has none for it: callers show `firstLine` instead.
    public func line(forInstruction instruction: UInt32) -> Int? {
        lineTable.line(forInstruction: instruction)
    }
}
