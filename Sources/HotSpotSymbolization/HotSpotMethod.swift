import HotSpotLayouts

/// What the JVM walker copies of one method (`Method *`) for its method record: the
/// ConstMethod's header and the bytes its pointers lead to, each from its first byte.
/// Nothing here has been checked: the copies come from another process's memory.
public struct HotSpotMethodCopies: Hashable, Sendable {
    /// `sizeof(ConstMethod)` bytes at the method's ConstMethod.
    public var constMethod: [UInt8]
    /// The holder class's name Symbol (`pool_holder->_name`): `pkg/Outer$Inner`.
    public var className: [UInt8]
    /// The method's name Symbol (constant pool entry `_name_index`).
    public var methodName: [UInt8]
    /// The class's source file Symbol (constant pool entry `_source_file_name_index`), or empty.
    public var sourceFile: [UInt8]
    /// The compressed line number table (after the bytecode), or empty when the method has none.
    public var lineTable: [UInt8]

    public init(constMethod: [UInt8], className: [UInt8], methodName: [UInt8], sourceFile: [UInt8], lineTable: [UInt8]) {
        self.constMethod = constMethod
        self.className = className
        self.methodName = methodName
        self.sourceFile = sourceFile
        self.lineTable = lineTable
    }
}

/// A Java method as frames show it: `package.Class.method`, its source file and lines.
public struct HotSpotMethod: Hashable, Sendable {
    /// The class in Java's dotted form (`java.util.HashMap$Node`).
    public var className: String
    public var methodName: String
    /// The source file's name as the class file gives it (`HashMap.java`), or "".
    public var sourceFile: String
    public var lineTable: HotSpotLineNumberTable
    /// `ConstMethod::_code_size`: bcis at or past it name no bytecode.
    public var codeSize: Int

    /// `package.Class.method`, the name every output shows.
    public var qualifiedName: String { className + "." + methodName }

    /// The line of `bci` (0: unknown, as for a method without a table or a frame at its entry).
    public func line(forBCI bci: Int32) -> Int {
        guard bci >= 0, bci < codeSize else { return lineTable.entries.first.map { Int($0.line) } ?? 0 }
        return lineTable.line(forBCI: bci).map(Int.init) ?? 0
    }

    public init(className: String, methodName: String, sourceFile: String, lineTable: HotSpotLineNumberTable, codeSize: Int) {
        self.className = className
        self.methodName = methodName
        self.sourceFile = sourceFile
        self.lineTable = lineTable
        self.codeSize = codeSize
    }

    /// Why a method record's copies could not be decoded.
    public enum DecodingError: Error, Hashable, Sendable, CustomStringConvertible {
        case constMethodCut(copied: Int, needed: Int)
        case symbol(field: String, HotSpotSymbolText.Failure)

        public var description: String {
            switch self {
            case .constMethodCut(let copied, let needed):
                return "ConstMethod copy of \(copied) bytes, \(needed) needed"
            case .symbol(let field, .noLength(let copied)):
                return "\(field) Symbol copy of \(copied) bytes ends before its length"
            case .symbol(let field, .cut(let length, let copied)):
                return "\(field) Symbol of \(length) bytes, \(copied) copied"
            }
        }
    }

    /// Decodes `copies` with `layout`. A cut source file gives ""; a cut or garbled line
    /// table keeps the lines it decoded. A cut class or method name is an error: a frame
    /// named by a fragment would be counted as another method.
    public init(decoding copies: HotSpotMethodCopies, layout: HotSpotLayout) throws(DecodingError) {
        let needed = Int(max(layout.constMethodCodeSize, layout.constMethodFlags)) + 2
        guard copies.constMethod.count >= needed else {
            throw .constMethodCut(copied: copies.constMethod.count, needed: needed)
        }
        func u16(_ offset: UInt16) -> Int {
            Int(copies.constMethod[Int(offset)]) | Int(copies.constMethod[Int(offset) + 1]) << 8
        }
        func text(_ bytes: [UInt8], _ field: String) throws(DecodingError) -> String {
            switch HotSpotSymbolText.decode(bytes[...], lengthOffset: Int(layout.symbolLength),
                                            bodyOffset: Int(layout.symbolBody)) {
            case .success(let text): return text
            case .failure(let failure): throw .symbol(field: field, failure)
            }
        }
        let className = try text(copies.className, "class name")
        let methodName = try text(copies.methodName, "method name")
        let sourceFile = copies.sourceFile.isEmpty ? "" : ((try? text(copies.sourceFile, "source file")) ?? "")
        let hasTable = u16(layout.constMethodFlags) & Int(layout.constMethodHasLineNumberTable) != 0
        self.init(className: Self.javaClassName(className), methodName: methodName, sourceFile: sourceFile,
                  lineTable: hasTable ? HotSpotLineNumberTable(compressed: copies.lineTable[...])
                                      : HotSpotLineNumberTable(entries: [], isCut: false),
                  codeSize: u16(layout.constMethodCodeSize))
    }

    /// `java/util/HashMap$Node` → `java.util.HashMap$Node`. A hidden class's address suffix
    /// (`Spin$$Lambda$1+0x00007f23a8000a08` in JDK 17's Symbols, `/0x...` as Java prints it)
    /// names one instance of a lambda's class: it goes, so a lambda keeps one name across runs.
    static func javaClassName(_ internalName: String) -> String {
        var bytes = Array(internalName.utf8)
        if let marker = bytes.indices.last(where: { index in
            index + 2 < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "/"))
                && bytes[index + 1] == UInt8(ascii: "0") && bytes[index + 2] == UInt8(ascii: "x")
        }) {
            bytes.removeSubrange(marker...)
        }
        return String(decoding: bytes.map { $0 == UInt8(ascii: "/") ? UInt8(ascii: ".") : $0 }, as: UTF8.self)
    }
}
