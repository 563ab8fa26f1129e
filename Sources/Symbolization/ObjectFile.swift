import Logging

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

    init(buildID: [UInt8]?, segments: [LoadSegment], symbols: SymbolTable, runtime: FileRuntime, symbolSource: SymbolSource) {
        self.buildID = buildID
        self.segments = segments
        self.symbols = symbols
        self.runtime = runtime
        self.symbolSource = symbolSource
    }

    /// The link-time virtual address of a file offset, through the `PT_LOAD` segment
    /// that contains it (executable segments first: that is where code is).
    func virtualAddress(fileOffset: UInt64) -> UInt64? {
        for segment in segments where segment.isExecutable
            && fileOffset >= segment.fileOffset && fileOffset - segment.fileOffset < segment.fileSize {
            return fileOffset - segment.fileOffset &+ segment.virtualAddress
        }
        for segment in segments where fileOffset >= segment.fileOffset && fileOffset - segment.fileOffset < segment.fileSize {
            return fileOffset - segment.fileOffset &+ segment.virtualAddress
        }
        return nil
    }
}

/// Loads an ELF file's symbols, completing a stripped file from a separate debug
/// file (by build id, then by `.gnu_debuglink`) or from its MiniDebugInfo.
struct ObjectFileLoader {
    var debugDirectories: [String]
    var logger: Logger

    /// A problem with a secondary source (debug file, MiniDebugInfo) that did not
    /// prevent using the file itself.
    struct Warning {
        var path: String
        var reason: String
    }

    /// - Parameters:
    ///   - file: the opened ELF file.
    ///   - originalPath: the path as the process sees it (for debug-link lookups).
    ///   - rootPrefix: `/proc/PID/root` when the process's own filesystem view is readable, else "".
    func load(file: OpenFile, originalPath: String, rootPrefix: String,
              warnings: inout [Warning]) throws(ELFError) -> ObjectFile {
        let contents = try ELFReader.read(file: file)
        var symbols = contents.allSymbolSets
        var source: SymbolSource = contents.hasSymbolTable ? .symbolTable : .dynamicSymbols
        var hasRustMarkers = contents.hasRustMarkers
        var isGo = contents.isGo

        if !contents.hasSymbolTable, !contents.goFunctions.isEmpty {
            symbols.append(SymbolSet(contents.goFunctions))
            source = .goPCLNTab
        } else if !contents.hasSymbolTable {
            if let (debug, debugSource) = findDebugFile(for: contents, file: file, originalPath: originalPath,
                                                         rootPrefix: rootPrefix, warnings: &warnings) {
                symbols += debug.allSymbolSets
                hasRustMarkers = hasRustMarkers || debug.hasRustMarkers
                isGo = isGo || debug.isGo
                source = debugSource
            } else if let compressed = contents.miniDebugInfo {
                do throws(ELFError) {
                    let image = try MiniDebugInfo.decompress(compressed)
                    let mini = try ELFReader.read(image: image)
                    symbols.append(SymbolSet(mini.symbols))
                    hasRustMarkers = hasRustMarkers || mini.hasRustMarkers
                    source = .miniDebugInfo
                } catch {
                    warnings.append(Warning(path: originalPath, reason: "MiniDebugInfo (.gnu_debugdata): \(error)"))
                }
            }
        }
        let runtime: FileRuntime = isGo ? .go : (hasRustMarkers ? .rust : .native)
        return ObjectFile(buildID: contents.buildID, segments: contents.segments,
                          symbols: SymbolTable(sets: symbols), runtime: runtime, symbolSource: source)
    }

    /// Candidate paths, the process's root first when it has its own.
    private func rooted(_ path: String, rootPrefix: String) -> [String] {
        rootPrefix.isEmpty ? [path] : [rootPrefix + path, path]
    }

    private func findDebugFile(for contents: ELFContents, file: OpenFile, originalPath: String, rootPrefix: String,
                               warnings: inout [Warning]) -> (ELFContents, SymbolSource)? {
        if let buildID = contents.buildID, buildID.count >= 2 {
            let hex = buildID.map { byte in
                let digits = String(byte, radix: 16)
                return digits.count == 1 ? "0" + digits : digits
            }.joined()
            let relative = "/.build-id/\(hex.prefix(2))/\(hex.dropFirst(2)).debug"
            var tried: Set<[UInt64]> = []
            for directory in debugDirectories {
                for candidate in rooted(directory + relative, rootPrefix: rootPrefix) {
                    guard case .success(let debugFile) = OpenFile.open(candidate),
                          tried.insert([debugFile.device, debugFile.inode]).inserted
                    else { continue }
                    do throws(ELFError) {
                        let debug = try ELFReader.read(file: debugFile)
                        guard debug.buildID == buildID else {
                            warnings.append(Warning(path: candidate, reason: "debug file's build id differs from \(originalPath)'s"))
                            continue
                        }
                        guard debug.hasSymbolTable else { continue }
                        logger.debug("found debug file by build id", metadata: ["file": "\(originalPath)", "debugFile": "\(candidate)"])
                        return (debug, .debugFileByBuildID)
                    } catch {
                        warnings.append(Warning(path: candidate, reason: error.description))
                    }
                }
            }
        }
        if let link = contents.debugLink, !link.fileName.contains("/") {
            let directory = originalPath.lastIndex(of: "/").map { String(originalPath[..<$0]) } ?? ""
            var candidates = [directory + "/" + link.fileName, directory + "/.debug/" + link.fileName]
            candidates += debugDirectories.map { $0 + directory + "/" + link.fileName }
            // The same file may be reachable through the process's root and ours: try it once.
            var tried: Set<[UInt64]> = [[file.device, file.inode]]
            for candidate in candidates.flatMap({ rooted($0, rootPrefix: rootPrefix) }) {
                guard case .success(let debugFile) = OpenFile.open(candidate),
                      tried.insert([debugFile.device, debugFile.inode]).inserted
                else { continue }
                guard debugFile.crc32() == link.crc else {
                    warnings.append(Warning(path: candidate, reason: "CRC-32 differs from the one in \(originalPath)'s .gnu_debuglink"))
                    continue
                }
                do throws(ELFError) {
                    let debug = try ELFReader.read(file: debugFile)
                    guard debug.hasSymbolTable else { continue }
                    logger.debug("found debug file by debug link", metadata: ["file": "\(originalPath)", "debugFile": "\(candidate)"])
                    return (debug, .debugFileByDebugLink)
                } catch {
                    warnings.append(Warning(path: candidate, reason: error.description))
                }
            }
        }
        return nil
    }
}

extension ELFContents {
    /// Every symbol table read, in section order: streamed ones, then those read whole.
    var allSymbolSets: [SymbolSet] {
        symbols.isEmpty ? symbolSets : symbolSets + [SymbolSet(symbols)]
    }
}
