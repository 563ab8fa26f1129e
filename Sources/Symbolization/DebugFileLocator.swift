import Logging

/// How a separate debug file was found.
public enum DebugFileLookup: String, Sendable, Hashable {
    /// `<debug directory>/.build-id/ab/cdef….debug`, with the same build id.
    case buildID
    /// The `.gnu_debuglink` name next to the file, in its `.debug/` or under a debug
    /// directory, with the CRC-32 the link records.
    case debugLink
}

/// A problem with a candidate debug file that did not prevent using the file itself.
public struct DebugFileWarning: Sendable, Hashable {
    public var path: String
    public var reason: String
}

/// Finds the separate debug file of an ELF file: by build id under each debug directory,
/// then by `.gnu_debuglink`. A candidate is used only if it is that file's: same build
/// id, or the CRC-32 the link records. Shared by symbolization (for `.symtab`) and
/// unwind-table compilation (for `.debug_frame`).
public struct DebugFileLocator: Sendable, Hashable {
    /// Roots of debug files, e.g. `/usr/lib/debug`.
    public var debugDirectories: [String]

    public init(debugDirectories: [String] = ["/usr/lib/debug"]) {
        self.debugDirectories = debugDirectories
    }

    /// A debug file that belongs to the file and that `accept` took.
    struct Found {
        var file: OpenFile
        var contents: ELFContents
        var lookup: DebugFileLookup
    }

    /// The first candidate debug file of the file that `contents` describes (open as
    /// `file`) that is the file's own and that `accept` takes.
    ///
    /// - Parameters:
    ///   - originalPath: the path as the process sees it (debug links are relative to its directory).
    ///   - rootPrefix: `/proc/PID/root` when the process's own filesystem view is readable, else "".
    ///   - loadSymbols: whether the candidates' symbol tables are read (symbolization) or not.
    func find(for contents: ELFContents, file: OpenFile, originalPath: String, rootPrefix: String,
              loadSymbols: Bool, logger: Logger?, warnings: inout [DebugFileWarning],
              accept: (ELFContents) -> Bool) -> Found? {
        func read(_ candidate: OpenFile) throws(ELFError) -> ELFContents {
            loadSymbols ? try ELFReader.read(file: candidate)
                        : try ELFReader.read(fileDescriptor: candidate.fileDescriptor, loadSymbols: false)
        }
        // The same file may be reachable through the process's root and ours: try it once.
        var tried: Set<[UInt64]> = [[file.device, file.inode]]
        if let buildID = contents.buildID, buildID.count >= 2 {
            let hex = buildID.map { byte in
                let digits = String(byte, radix: 16)
                return digits.count == 1 ? "0" + digits : digits
            }.joined()
            let relative = "/.build-id/\(hex.prefix(2))/\(hex.dropFirst(2)).debug"
            for directory in debugDirectories {
                for candidate in rooted(directory + relative, rootPrefix: rootPrefix) {
                    guard case .success(let debugFile) = OpenFile.open(candidate),
                          tried.insert([debugFile.device, debugFile.inode]).inserted
                    else { continue }
                    do throws(ELFError) {
                        let debug = try read(debugFile)
                        guard debug.buildID == buildID else {
                            warnings.append(DebugFileWarning(path: candidate, reason: "debug file's build id differs from \(originalPath)'s"))
                            continue
                        }
                        guard accept(debug) else { continue }
                        logger?.debug("found debug file by build id", metadata: ["file": "\(originalPath)", "debugFile": "\(candidate)"])
                        return Found(file: debugFile, contents: debug, lookup: .buildID)
                    } catch {
                        warnings.append(DebugFileWarning(path: candidate, reason: error.description))
                    }
                }
            }
        }
        if let link = contents.debugLink, !link.fileName.contains("/") {
            let directory = originalPath.lastIndex(of: "/").map { String(originalPath[..<$0]) } ?? ""
            var candidates = [directory + "/" + link.fileName, directory + "/.debug/" + link.fileName]
            candidates += debugDirectories.map { $0 + directory + "/" + link.fileName }
            for candidate in candidates.flatMap({ rooted($0, rootPrefix: rootPrefix) }) {
                guard case .success(let debugFile) = OpenFile.open(candidate),
                      tried.insert([debugFile.device, debugFile.inode]).inserted
                else { continue }
                guard debugFile.crc32() == link.crc else {
                    warnings.append(DebugFileWarning(path: candidate, reason: "CRC-32 differs from the one in \(originalPath)'s .gnu_debuglink"))
                    continue
                }
                do throws(ELFError) {
                    let debug = try read(debugFile)
                    guard accept(debug) else { continue }
                    logger?.debug("found debug file by debug link", metadata: ["file": "\(originalPath)", "debugFile": "\(candidate)"])
                    return Found(file: debugFile, contents: debug, lookup: .debugLink)
                } catch {
                    warnings.append(DebugFileWarning(path: candidate, reason: error.description))
                }
            }
        }
        return nil
    }

    /// Candidate paths, the process's root first when it has its own.
    private func rooted(_ path: String, rootPrefix: String) -> [String] {
        rootPrefix.isEmpty ? [path] : [rootPrefix + path, path]
    }
}

/// A separate debug file that holds `.debug_frame`, read whole for unwind-table compilation.
public struct DebugFrameFile: Sendable {
    /// Where it was opened (possibly under `/proc/PID/root`).
    public var path: String
    public var lookup: DebugFileLookup
    public var bytes: [UInt8]
}

extension DebugFileLocator {
    /// The separate debug file, with a `.debug_frame`, of the file at `path`, read whole.
    ///
    /// `path` must still be the file `(device, inode)` (checked with `fstat`): the file
    /// whose build id and `.gnu_debuglink` lead to the debug file. Every candidate that was
    /// found but not used (wrong build id or CRC, unreadable, above `sizeLimit`) is a
    /// warning; nil when there is none to use.
    public func debugFrameFile(forFileAt path: String, device: UInt64, inode: UInt64,
                               originalPath: String, rootPrefix: String, sizeLimit: Int,
                               logger: Logger?, warnings: inout [DebugFileWarning]) -> DebugFrameFile? {
        guard case .success(let file) = OpenFile.open(path), file.device == device, file.inode == inode else { return nil }
        let contents: ELFContents
        do throws(ELFError) {
            contents = try ELFReader.read(fileDescriptor: file.fileDescriptor, loadSymbols: false)
        } catch {
            warnings.append(DebugFileWarning(path: path, reason: error.description))
            return nil
        }
        guard let found = find(for: contents, file: file, originalPath: originalPath, rootPrefix: rootPrefix,
                               loadSymbols: false, logger: logger, warnings: &warnings, accept: { $0.hasDebugFrame })
        else { return nil }
        guard found.file.size <= Int64(sizeLimit) else {
            warnings.append(DebugFileWarning(path: found.file.path, reason: "\(found.file.size) bytes, above the debug file limit \(sizeLimit)"))
            return nil
        }
        guard let bytes = found.file.readAll(limit: sizeLimit) else {
            warnings.append(DebugFileWarning(path: found.file.path, reason: "pread failed or the file grew past \(sizeLimit) bytes"))
            return nil
        }
        return DebugFrameFile(path: found.file.path, lookup: found.lookup, bytes: bytes)
    }
}
