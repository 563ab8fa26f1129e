import CPythonLayouts
import CPythonSymbolization
import Foundation

/// The five copies of a code record, base64 as the fixture scripts write them.
protocol CodeRecordCopies {
    var header: String { get }
    var nameCopy: String { get }
    var qualifiedNameCopy: String { get }
    var fileCopy: String { get }
    var lineTableCopy: String { get }
}

extension CodeRecordCopies {
    func bytes(_ base64: String) -> [UInt8] { Array(Data(base64Encoded: base64) ?? Data()) }

    func decode(with layout: CPythonLayout) throws(CPythonObjectError) -> CPythonCode {
        try CPythonCode(header: bytes(header), name: bytes(nameCopy), qualifiedName: bytes(qualifiedNameCopy),
                        file: bytes(fileCopy), lineTable: bytes(lineTableCopy), layout: layout)
    }
}

/// One file written by Fixtures/dump_code.py: code objects of one CPython, copied as the
/// walker copies them, with what the interpreter itself says about them.
struct CodeRecordFixture: Decodable {
    struct Code: Decodable, CodeRecordCopies {
        var name: String
        var nameIsCut: Bool
        var fileName: String
        var fileNameIsCut: Bool
        var firstLine: Int
        var lineTableIsCut: Bool
        var header: String
        var nameCopy: String
        var qualifiedNameCopy: String
        var fileCopy: String
        var lineTableCopy: String
        /// [start, end, line]: instruction values start..<end (bytes for 3.8/3.9 and 3.11+,
        /// code units for 3.10) are on line (null: none).
        var lines: [[Int?]]
    }

    var version: String
    var minor: UInt8
    var codeHeaderBytes: Int
    var unicodeCompactData: Int
    var unicodeASCIIData: Int
    var codes: [Code]

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let names = ["code-3.8.json", "code-3.9.json", "code-3.10.json", "code-3.11.json", "code-3.11-debian.json",
                        "code-3.12.json", "code-3.13.json"]

    static func load(_ name: String) throws -> CodeRecordFixture {
        try JSONDecoder().decode(CodeRecordFixture.self, from: Data(contentsOf: directory.appendingPathComponent(name)))
    }

    var layout: CPythonLayout? { CPythonLayout.layout(for: CPythonVersion(major: 3, minor: minor)) }

    /// The step between two instruction values: 2 bytes, or 1 code unit for 3.10.
    var instructionStep: Int { minor == 10 ? 1 : 2 }
}
