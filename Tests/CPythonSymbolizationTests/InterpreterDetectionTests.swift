import CPythonLayouts
import CPythonSymbolization
import ELF
import Foundation
import Testing

/// Detection on the machine's real interpreters: pyenv's libpython of each version
/// (pyenv builds its bin/python3.X against a shared libpython) and Debian's static
/// /usr/bin/python3.11, with `_PyRuntime`'s address checked against `nm`.
@Suite struct InterpreterDetectionTests {
    static let pyenv = ProcessInfo.processInfo.environment["PYENV_ROOT"] ?? "/root/.pyenv"

    /// (version directory, minor) of the pyenv versions present.
    static var pyenvVersions: [(directory: String, minor: UInt8, major: UInt8)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: pyenv + "/versions")) ?? []
        return names.sorted().compactMap { name in
            let parts = name.split(separator: ".")
            guard parts.count == 3, let major = UInt8(parts[0]), let minor = UInt8(parts[1]) else { return nil }
            return (pyenv + "/versions/" + name, minor, major)
        }
    }

    static func elf(_ path: String) throws -> ELFFile {
        try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))), name: path)
    }

    /// `_PyRuntime`'s value as binutils' nm reads the dynamic symbols.
    static func nmRuntimeAddress(_ path: String) throws -> UInt64? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nm")
        process.arguments = ["-D", "--defined-only", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        for line in String(decoding: output, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 3, fields[2] == "_PyRuntime" { return UInt64(fields[0], radix: 16) }
        }
        return nil
    }

    /// lib/libpython3.X[m].so.1.0 of a pyenv version.
    static func library(in directory: String) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/lib")) ?? []
        return names.first { $0.hasPrefix("libpython") && $0.hasSuffix(".so.1.0") }.map { directory + "/lib/" + $0 }
    }

    @Test func findsEverySupportedPyenvVersion() throws {
        var checked = 0
        for (directory, minor, major) in Self.pyenvVersions where major == 3 && minor >= 8 {
            let path = try #require(Self.library(in: directory))
            let detection = try CPythonInterpreter.detect(in: Self.elf(path))
            let expected = try #require(try Self.nmRuntimeAddress(path))
            let layoutIndex = try #require(CPythonLayout.index(of: CPythonVersion(major: 3, minor: minor)))
            #expect(detection == .interpreter(CPythonInterpreter(version: CPythonVersion(major: 3, minor: minor),
                                                                 runtimeAddress: expected, layoutIndex: layoutIndex)), "\(path)")
            #expect(layoutIndex == Int(minor) - 8)
            checked += 1
        }
        #expect(checked == 6, "pyenv 3.8 to 3.13 under \(Self.pyenv)")
    }

    /// pyenv's bin/python3.X only imports libpython: the interpreter is in the library.
    @Test func pyenvExecutablesAreNotTheInterpreter() throws {
        for (directory, minor, major) in Self.pyenvVersions where major == 3 && minor >= 8 {
            let path = directory + "/bin/python3.\(minor)"
            #expect(try CPythonInterpreter.detect(in: Self.elf(path)) == .notCPython, "\(path)")
        }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/python3.11")))
    func findsDebiansStaticInterpreter() throws {
        let path = "/usr/bin/python3.11"
        let expected = try #require(try Self.nmRuntimeAddress(path))
        #expect(try CPythonInterpreter.detect(in: Self.elf(path))
            == .interpreter(CPythonInterpreter(version: CPythonVersion(major: 3, minor: 11), runtimeAddress: expected, layoutIndex: 3)))
    }

    @Test func refusesOlderVersions() throws {
        var refused = 0
        for (directory, minor, major) in Self.pyenvVersions where major == 2 || minor < 8 {
            let path = try #require(Self.library(in: directory))
            guard case .unsupported(let reason) = try CPythonInterpreter.detect(in: Self.elf(path)) else {
                Issue.record("\(path) was not refused")
                continue
            }
            #expect(!reason.isEmpty)
            refused += 1
        }
        #expect(refused == 3, "pyenv 2.7, 3.6, 3.7 under \(Self.pyenv)")
    }

    @Test func otherFilesAreNotCPython() throws {
        #expect(try CPythonInterpreter.detect(in: Self.elf("/bin/ls")) == .notCPython)
    }
}
