import ELF
import Logging
#if canImport(Glibc)
import Glibc
#endif

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

    /// What a debug file is wanted for, which decides what it must hold and how it is checked.
    enum Purpose: Equatable {
        /// Symbolization: it must have a `.symtab` with functions; its symbols are read.
        case symbols
        /// Unwinding: it must have a `.debug_frame` and be at most `maximumSize` bytes
        /// (bounding the CRC's reading); only its headers are read here.
        case callFrames(maximumSize: Int)
    }

    /// A debug file that belongs to the file and holds what the purpose needs.
    struct Found {
        var file: OpenFile
        var contents: ELFContents
        var lookup: DebugFileLookup
    }

    /// The first candidate debug file of the file that `contents` describes (open as
    /// `file`) that is the file's own and holds what `purpose` needs.
    ///
    /// - Parameters:
    ///   - originalPath: the path as the process sees it (debug links are relative to its directory).
    ///   - rootPrefix: `/proc/PID/root` when the process's own filesystem view is readable, else "".
    func find(for contents: ELFContents, file: OpenFile, originalPath: String, rootPrefix: String,
              purpose: Purpose, logger: Logger?, warnings: inout [DebugFileWarning]) -> Found? {
        // The same file may be reachable through the process's root and ours: try it once.
        var tried: Set<[UInt64]> = [[file.device, file.inode]]
        func consider(_ candidate: String, lookup: DebugFileLookup, warnings: inout [DebugFileWarning]) -> Found? {
            func warn(_ reason: String) -> Found? {
                warnings.append(DebugFileWarning(path: candidate, reason: reason))
                return nil
            }
            let debugFile: OpenFile
            switch OpenFile.open(candidate) {
            case .success(let opened): debugFile = opened
            case .failure(.systemCall(let error)) where error.errno == ENOENT || error.errno == ENOTDIR: return nil
            case .failure(let error): return warn(error.description)
            }
            guard tried.insert([debugFile.device, debugFile.inode]).inserted else { return nil }
            if case .callFrames(let maximumSize) = purpose, debugFile.size > Int64(maximumSize) {
                return warn("\(debugFile.size) bytes, above the debug file limit \(maximumSize)")
            }
            // A CRC reads the whole file: before reading symbols, which costs more; after
            // reading only headers, which costs less and usually shows there is no .debug_frame.
            let crcMatches = { contents.debugLink.map { debugFile.crc32() == $0.crc } ?? false }
            let crcMismatch = "CRC-32 differs from the one in \(originalPath)'s .gnu_debuglink"
            if lookup == .debugLink, purpose == .symbols, !crcMatches() { return warn(crcMismatch) }
            let debug: ELFContents
            do throws(ELFError) {
                debug = purpose == .symbols ? try ELFReader.read(file: debugFile)
                                            : try ELFReader.read(file: debugFile, symbolTables: false)
            } catch {
                return warn(error.description)
            }
            if lookup == .buildID, debug.buildID != contents.buildID {
                return warn("debug file's build id differs from \(originalPath)'s")
            }
            guard purpose == .symbols ? debug.hasSymbolTable : debug.debugFrame != nil else { return nil }
            if lookup == .debugLink, purpose != .symbols, !crcMatches() { return warn(crcMismatch) }
            logger?.debug("found debug file", metadata: ["file": "\(originalPath)", "debugFile": "\(candidate)",
                                                         "by": "\(lookup.rawValue)"])
            return Found(file: debugFile, contents: debug, lookup: lookup)
        }

        if let buildID = contents.buildID, buildID.count >= 2 {
            let hex = buildID.map { byte in
                let digits = String(byte, radix: 16)
                return digits.count == 1 ? "0" + digits : digits
            }.joined()
            let relative = "/.build-id/\(hex.prefix(2))/\(hex.dropFirst(2)).debug"
            for directory in debugDirectories {
                for candidate in rooted(directory + relative, rootPrefix: rootPrefix) {
                    if let found = consider(candidate, lookup: .buildID, warnings: &warnings) { return found }
                }
            }
        }
        if let link = contents.debugLink, !link.fileName.contains("/") {
            let directory = originalPath.lastIndex(of: "/").map { String(originalPath[..<$0]) } ?? ""
            var candidates = [directory + "/" + link.fileName, directory + "/.debug/" + link.fileName]
            candidates += debugDirectories.map { $0 + directory + "/" + link.fileName }
            for candidate in candidates.flatMap({ rooted($0, rootPrefix: rootPrefix) }) {
                if let found = consider(candidate, lookup: .debugLink, warnings: &warnings) { return found }
            }
        }
        return nil
    }

    /// Candidate paths, the process's root first when it has its own.
    private func rooted(_ path: String, rootPrefix: String) -> [String] {
        rootPrefix.isEmpty ? [path] : [rootPrefix + path, path]
    }
}

/// The `.debug_frame` of a separate debug file, read for unwind-table compilation.
public struct DebugFrameFile: Sendable {
    /// Where the debug file was opened (possibly under `/proc/PID/root`).
    public var path: String
    public var lookup: DebugFileLookup
    /// The section's bytes as stored (with its `Elf64_Chdr` when compressed).
    public var contents: [UInt8]
    /// The section's `sh_addr`.
    public var address: UInt64
    /// `SHF_COMPRESSED`.
    public var isCompressed: Bool
}

extension DebugFileLocator {
    /// The `.debug_frame` of the separate debug file of `file`: only that section is read.
    ///
    /// `file` is the open file whose build id and `.gnu_debuglink` lead to the debug file
    /// (the caller checked that it is the mapped one); `elf` is its structure as the shared
    /// ELF reader read it (from `file` or from its bytes in memory), parsed once for this
    /// lookup and the table's compilation. Every candidate that was found but not used
    /// (wrong build id or CRC, unreadable, above `sizeLimit`) is a warning; nil when there
    /// is none to use.
    public func debugFrameFile(for file: OpenFile, elf: ELFFile, originalPath: String, rootPrefix: String, sizeLimit: Int,
                               logger: Logger?, warnings: inout [DebugFileWarning]) -> DebugFrameFile? {
        let contents: ELFContents
        do throws(ELFError) {
            contents = try ELFReader.read(elf: elf, file: file, symbolTables: false)
        } catch {
            warnings.append(DebugFileWarning(path: file.path, reason: error.description))
            return nil
        }
        guard let found = find(for: contents, file: file, originalPath: originalPath, rootPrefix: rootPrefix,
                               purpose: .callFrames(maximumSize: sizeLimit), logger: logger, warnings: &warnings),
              let section = found.contents.debugFrame
        else { return nil }
        // Nothing is allocated for a section the file (at most sizeLimit bytes) cannot hold.
        let fileSize = UInt64(max(found.file.size, 0))
        guard section.offset <= fileSize, section.size <= fileSize - section.offset else {
            warnings.append(DebugFileWarning(path: found.file.path, reason: ".debug_frame (\(section.size) bytes at \(section.offset)) lies outside the file (\(fileSize) bytes)"))
            return nil
        }
        guard let bytes = found.file.read(offset: section.offset, count: Int(section.size)) else {
            warnings.append(DebugFileWarning(path: found.file.path, reason: "pread of .debug_frame (\(section.size) bytes at \(section.offset)) failed or the file shrank"))
            return nil
        }
        return DebugFrameFile(path: found.file.path, lookup: found.lookup, contents: bytes, address: section.address,
                              isCompressed: section.isCompressed)
    }
}
