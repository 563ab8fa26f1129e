import Foundation
import Testing
@testable import Symbolization
#if canImport(Glibc)
import Glibc
#endif

/// JavaScript frames' lines from script files (docs/v8.md "Lines"): which script names have
/// a file, and that a hostile file (a FIFO, an oversize file, a missing one) gives line 0
/// without blocking, counted.
@Suite struct V8ScriptLinesTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("v8-script-lines-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func removeDirectory() { try? FileManager.default.removeItem(at: directory) }

    @Test func scriptNamesWithAFile() {
        // Every test gets its own directory from init, this one too.
        defer { removeDirectory() }
        #expect(V8ScriptLines.path(ofScriptName: "/app/main.js") == "/app/main.js")
        #expect(V8ScriptLines.path(ofScriptName: "file:///app/my%20dir/m%C3%A9.mjs") == "/app/my dir/mé.mjs")
        #expect(V8ScriptLines.path(ofScriptName: "file:///app/100%") == "/app/100%")
        #expect(V8ScriptLines.path(ofScriptName: "file:///app/a%00b.js") == nil)
        #expect(V8ScriptLines.path(ofScriptName: "node:internal/timers") == nil)
        #expect(V8ScriptLines.path(ofScriptName: "evalmachine.<anonymous>") == nil)
        #expect(V8ScriptLines.path(ofScriptName: "https://example.com/a.js") == nil)
        #expect(V8ScriptLines.path(ofScriptName: "relative.js") == nil)
        #expect(V8ScriptLines.path(ofScriptName: "") == nil)
    }

    @Test func linesOfAScriptReadOnce() throws {
        defer { removeDirectory() }
        let file = directory.appendingPathComponent("app.js")
        try Data("'use strict';\nfunction f() {\n  return 1;\n}\n".utf8).write(to: file)
        var lines = V8ScriptLines()
        var statistics = SymbolizerStatistics()
        #expect(lines.line(root: "", scriptName: file.path, scriptOffset: 30, statistics: &statistics) == 3)
        #expect(lines.line(root: "", scriptName: "file://" + file.path, scriptOffset: 0, statistics: &statistics) == 1)
        #expect(lines.line(root: "", scriptName: file.path, scriptOffset: 1000, statistics: &statistics) == 0)
        #expect(lines.line(root: "", scriptName: file.path, scriptOffset: nil, statistics: &statistics) == 0)
        #expect(lines.line(root: "", scriptName: "node:internal/main", scriptOffset: 3, statistics: &statistics) == 0)
        // One file identity, counted once, whichever name reached it.
        #expect(statistics.v8ScriptsRead == 1 && statistics.v8ScriptsRefused == 0)
    }

    @Test func hostileFilesGiveNoLineAndDoNotBlock() throws {
        defer { removeDirectory() }
        var lines = V8ScriptLines()
        var statistics = SymbolizerStatistics()
        // A FIFO with no writer: an open for reading would wait for one.
        let fifo = directory.appendingPathComponent("fifo.js").path
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(lines.line(root: "", scriptName: fifo, scriptOffset: 0, statistics: &statistics) == 0)
        // A device.
        #expect(lines.line(root: "", scriptName: "/dev/zero", scriptOffset: 0, statistics: &statistics) == 0)
        // Past the size bound (sparse: nothing is written).
        let large = directory.appendingPathComponent("large.js").path
        #expect(FileManager.default.createFile(atPath: large, contents: Data("a\n".utf8)))
        #expect(truncate(large, off_t(V8ScriptLines.maximumFileSize + 1)) == 0)
        #expect(lines.line(root: "", scriptName: large, scriptOffset: 0, statistics: &statistics) == 0)
        // Missing, and a directory.
        #expect(lines.line(root: "", scriptName: directory.appendingPathComponent("none.js").path, scriptOffset: 0,
                           statistics: &statistics) == 0)
        #expect(lines.line(root: "", scriptName: directory.path, scriptOffset: 0, statistics: &statistics) == 0)
        #expect(statistics.v8ScriptsRead == 0 && statistics.v8ScriptsRefused == 5)
        // Each refused once: asking again opens nothing and counts nothing.
        #expect(lines.line(root: "", scriptName: fifo, scriptOffset: 0, statistics: &statistics) == 0)
        #expect(statistics.v8ScriptsRefused == 5)
        #expect(lines.endsHeld == 0)
    }

    /// A process with a root of its own has its scripts there; the same path outside it is
    /// another file, never read.
    @Test func aProcessRootIsTheOnlyPlaceLooked() throws {
        defer { removeDirectory() }
        let root = directory.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("app"), withIntermediateDirectories: true)
        try Data("x\ny\n".utf8).write(to: root.appendingPathComponent("app/main.js"))
        var lines = V8ScriptLines()
        var statistics = SymbolizerStatistics()
        #expect(lines.line(root: root.path, scriptName: "/app/main.js", scriptOffset: 2, statistics: &statistics) == 2)
        let outside = directory.appendingPathComponent("outside.js")
        try Data("x\ny\n".utf8).write(to: outside)
        #expect(lines.line(root: root.path, scriptName: outside.path, scriptOffset: 2, statistics: &statistics) == 0)
        #expect(lines.line(root: "", scriptName: outside.path, scriptOffset: 2, statistics: &statistics) == 2)
    }
}
