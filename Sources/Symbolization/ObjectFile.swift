import Logging
import Profiles

/// The runtime a whole file's code belongs to, from markers in the file.
enum FileRuntime: Sendable {
    case native
    /// Go: `.gopclntab` / `.note.go.buildid`; symbol names are Go names already.
    case go
    /// Rust: v0 symbols or the Rust runtime's symbols.
    case rust
}

/// Where a file's function symbols came from (for statistics and logs).
public enum SymbolSource: String, Sendable, Hashable, CaseIterable {
    /// The file's own `.symtab`.
    case symbolTable
    /// A separate debug file found by build id.
    case debugFileByBuildID
    /// A separate debug file found by `.gnu_debuglink`.
    case debugFileByDebugLink
    /// `.gnu_debugdata` (MiniDebugInfo) plus `.dynsym`.
    case miniDebugInfo
    /// A Go binary's `.gopclntab` (stripped with `-ldflags=-s`).
    case goPCLNTab
    /// Only the dynamic symbols (`.dynsym`): exported functions.
    case dynamicSymbols
}

/// A loaded ELF file: its layout and its function symbols, shared by every mapping of it.
final class ObjectFile {
    let buildID: [UInt8]?
    let segments: [LoadSegment]
    let symbols: SymbolTable
    let runtime: FileRuntime
    let symbolSource: SymbolSource
    /// Tick of the last lookup, for eviction.
    var lastUse: UInt64 = 0
    /// For an in-memory image (the vDSO): its size.
    var imageSize: UInt64 = 0
    /// Universal Profiling's file ID (``FileID``); nil for in-memory images.
    var fileID: [UInt8]?
    /// Where source lines are read from on first need: the file, then its separate
    /// debug file when one was found for its symbols. Empty for in-memory images.
    var lineSources: [OpenFile] = []
    /// The source lines, once read (`SourceLineReader`).
    var lines: SourceLineState = .pending
    /// The stamp of the file it was read from (nil for in-memory images): a mapping of a
    /// path with the same stamp is this file, unchanged, without reading it again.
    var stamp: FileStamp?

    init(buildID: [UInt8]?, segments: [LoadSegment], symbols: SymbolTable, runtime: FileRuntime, symbolSource: SymbolSource) {
        self.buildID = buildID
        self.segments = segments
        self.symbols = symbols
        self.runtime = runtime
        self.symbolSource = symbolSource
    }

    /// The link-time virtual address of a file offset (see ``FileSegment/virtualAddress(of:in:)``).
    func virtualAddress(fileOffset: UInt64) -> UInt64? {
        FileSegment.virtualAddress(of: fileOffset, in: segments)
    }
}

/// Loads an ELF file's symbols, completing a stripped file from a separate debug
/// file (by build id, then by `.gnu_debuglink`) or from its MiniDebugInfo.
struct ObjectFileLoader {
    var debugDirectories: [String]
    var logger: Logger

    /// A problem with a secondary source (debug file, MiniDebugInfo) that did not
    /// prevent using the file itself.
    typealias Warning = DebugFileWarning

    /// - Parameters:
    ///   - file: the opened ELF file.
    ///   - originalPath: the path as the process sees it (for debug-link lookups).
    ///   - rootPrefix: `/proc/PID/root` when the process's own filesystem view is readable, else "".
    func load(file: OpenFile, originalPath: String, rootPrefix: String,
              warnings: inout [Warning]) throws(ELFError) -> ObjectFile {
        let contents = try ELFReader.read(file: file)
        var symbols = contents.symbolSets
        var source: SymbolSource = contents.hasSymbolTable ? .symbolTable : .dynamicSymbols
        var hasRustMarkers = contents.hasRustMarkers
        var isGo = contents.isGo
        // Only files with line information stay open for it (a descriptor each).
        var lineSources = contents.hasLineInformation ? [file] : []

        if !contents.hasSymbolTable, !contents.goFunctions.isEmpty {
            symbols.append(SymbolSet(contents.goFunctions))
            source = .goPCLNTab
        } else if !contents.hasSymbolTable {
            if let (debug, debugFile, debugSource) = findDebugFile(for: contents, file: file, originalPath: originalPath,
                                                                    rootPrefix: rootPrefix, warnings: &warnings) {
                if debug.hasLineInformation { lineSources.append(debugFile) }
                symbols += debug.symbolSets
                hasRustMarkers = hasRustMarkers || debug.hasRustMarkers
                isGo = isGo || debug.isGo
                source = debugSource
            } else if let compressed = contents.miniDebugInfo {
                do throws(ELFError) {
                    let image = try MiniDebugInfo.decompress(compressed)
                    let mini = try ELFReader.read(image: image)
                    symbols += mini.symbolSets
                    hasRustMarkers = hasRustMarkers || mini.hasRustMarkers
                    source = .miniDebugInfo
                } catch {
                    warnings.append(Warning(path: originalPath, reason: "MiniDebugInfo (.gnu_debugdata): \(error)"))
                }
            }
        }
        let runtime: FileRuntime = isGo ? .go : (hasRustMarkers ? .rust : .native)
        let object = ObjectFile(buildID: contents.buildID, segments: contents.segments,
                                symbols: SymbolTable(sets: symbols), runtime: runtime, symbolSource: source)
        object.lineSources = lineSources
        return object
    }

    private func findDebugFile(for contents: ELFContents, file: OpenFile, originalPath: String, rootPrefix: String,
                               warnings: inout [Warning]) -> (ELFContents, OpenFile, SymbolSource)? {
        let locator = DebugFileLocator(debugDirectories: debugDirectories)
        guard let found = locator.find(for: contents, file: file, originalPath: originalPath, rootPrefix: rootPrefix,
                                       purpose: .symbols, logger: logger, warnings: &warnings)
        else { return nil }
        return (found.contents, found.file, found.lookup == .buildID ? .debugFileByBuildID : .debugFileByDebugLink)
    }
}
