/// The records the aggregator sends back to the sampler on the same Unix socket
/// (the other direction of the connection): unwind tables and the mappings they
/// apply to. Record codes 12-15 of docs/wire-format.md, section 10.
///
/// The control stream has its own small framing: the magic `TNDC`, a version
/// varint, then records framed like the main stream's (type varint, length
/// varint, payload). A sampler reads it only if its stream header announced it
/// (`StreamHeader.controlVersion`).
public enum ControlRecord: Hashable, Sendable {
    /// An unwind table for one file (code 12).
    case unwindTable(UnwindTableRecord)
    /// The complete set of unwind-table mappings of one process (code 13); replaces an earlier set.
    case unwindMappings(UnwindMappings)
    /// A table the aggregator no longer refers to (code 14): the sampler may free it.
    case releaseUnwindTable(tableID: UInt32)
    /// A mapped file the aggregator may not read (code 15): the sampler answers with a
    /// file descriptor record (5.12) that carries a read-only descriptor, or says why not.
    case fileRequest(FileRequest)
    /// Where a process's CPython interpreter keeps its runtime state (code 19): the
    /// sampler checks it against the process's own mappings and walks its Python frames.
    case cpythonProcess(CPythonProcess)
    /// Where a process's JVM keeps its code cache (code 21): the sampler checks it against
    /// the process's own mappings and walks its Java frames.
    case hotspotProcess(HotSpotProcess)
    /// Where a process's Perl interpreter keeps its thread key (code 25): the sampler
    /// checks it against the process's own mappings and walks its Perl frames.
    case perlProcess(PerlProcess)
    /// Where a process's Ruby VM keeps its execution context (code 27).
    case rubyProcess(RubyProcess)
    /// Where a process's PHP engine keeps its executor globals (code 29).
    case phpProcess(PHPProcess)
    /// A process running V8 (code 23): the sampler checks it against the process's own
    /// mappings and walks its JavaScript frames.
    case v8Process(V8Process)
    /// A process running a BEAM VM (code 31): the sampler checks its nine addresses against
    /// the process's own mappings and walks its Erlang frames.
    case beamProcess(BEAMProcess)
    /// A record type this version does not know, skipped by its length.
    case unknown(type: UInt64, length: Int)
}

/// The codes of the control records.
public enum ControlRecordType: UInt64, Sendable {
    case unwindTable = 12
    case unwindMappings = 13
    case releaseUnwindTable = 14
    case fileRequest = 15
    case cpythonProcess = 19
    case hotspotProcess = 21
    case perlProcess = 25
    case rubyProcess = 27
    case phpProcess = 29
    case v8Process = 23
    case beamProcess = 31
}

/// A process with a CPython interpreter (docs/cpython.md): the interpreter's version
/// names one of the sampler's own layouts, and `runtimeAddress` (`&_PyRuntime`) must lie
/// in a writable mapping of the file (`device`, `inode`) that the process also maps
/// executable. The aggregator sends no offset; the sampler refuses anything it cannot check.
public struct CPythonProcess: Hashable, Sendable {
    public var pid: Int32
    /// `major << 8 | minor`, e.g. 0x030b.
    public var pythonVersion: UInt32
    public var runtimeAddress: UInt64
    public var device: UInt64
    public var inode: UInt64

    public init(pid: Int32, pythonVersion: UInt32, runtimeAddress: UInt64, device: UInt64, inode: UInt64) {
        self.pid = pid
        self.pythonVersion = pythonVersion
        self.runtimeAddress = runtimeAddress
        self.device = device
        self.inode = inode
    }
}

/// The aggregator asks for the file behind one executable mapping of `pid`, as the
/// sampler's mappings record described it. The sampler answers only for a mapping it
/// knows with exactly this range and identity.
public struct FileRequest: Hashable, Sendable {
    public var pid: Int32
    public var start: UInt64
    public var end: UInt64
    public var device: UInt64
    public var inode: UInt64

    public init(pid: Int32, start: UInt64, end: UInt64, device: UInt64, inode: UInt64) {
        self.pid = pid
        self.start = start
        self.end = end
        self.device = device
        self.inode = inode
    }
}

/// A serialized `UnwindTable` (docs/unwind-tables.md) and the file it was compiled from.
public struct UnwindTableRecord: Hashable, Sendable {
    /// The aggregator's id for the table, ≥ 1, unique within the connection.
    public var tableID: UInt32
    /// `st_dev` of the file, in the `/proc/PID/maps` encoding the mappings record uses.
    public var device: UInt64
    public var inode: UInt64
    /// The serialized table, exactly as `UnwindTable.serialized()` wrote it. The
    /// wire format does not look inside: the sampler validates it before loading.
    public var table: [UInt8]

    public init(tableID: UInt32, device: UInt64, inode: UInt64, table: [UInt8]) {
        self.tableID = tableID
        self.device = device
        self.inode = inode
        self.table = table
    }
}

/// Which table covers which address range of one process.
public struct UnwindMappings: Hashable, Sendable {
    public var pid: Int32
    public var entries: [UnwindMapping]

    public init(pid: Int32, entries: [UnwindMapping]) {
        self.pid = pid
        self.entries = entries
    }
}

/// One executable mapping `[start, end)` covered by table `tableID`: the table's
/// (ELF virtual) address of a runtime pc is `pc &+ bias`.
public struct UnwindMapping: Hashable, Sendable {
    public var start: UInt64
    public var end: UInt64
    public var tableID: UInt32
    /// Added (mod 2^64) to a pc to get the ELF address: `pgoff + (p_vaddr − p_offset) − start`.
    public var bias: UInt64
    /// The mapped file's identity, as in the mappings record: the sampler checks it.
    public var device: UInt64
    public var inode: UInt64

    public init(start: UInt64, end: UInt64, tableID: UInt32, bias: UInt64, device: UInt64, inode: UInt64) {
        self.start = start
        self.end = end
        self.tableID = tableID
        self.bias = bias
        self.device = device
        self.inode = inode
    }
}

/// The bounds the control decoder enforces (in the privileged sampler).
public struct ControlDecoderLimits: Hashable, Sendable {
    /// Largest record payload: a table plus its few fields.
    public var maximumRecordLength: Int
    /// Largest serialized table.
    public var maximumTableBytes: Int
    /// Most entries of one unwind mappings record.
    public var maximumMappings: Int

    public init(maximumRecordLength: Int = (16 << 20) + 64, maximumTableBytes: Int = 16 << 20,
                maximumMappings: Int = 4096) {
        self.maximumRecordLength = maximumRecordLength
        self.maximumTableBytes = maximumTableBytes
        self.maximumMappings = maximumMappings
    }

    public static let `default` = ControlDecoderLimits()
}

/// Why a control stream could not be decoded, and where.
public struct ControlStreamError: Error, Hashable, Sendable, CustomStringConvertible {
    public var kind: WireFormatError.Kind
    /// The record type code; nil in the control header.
    public var recordType: UInt64?
    /// Bytes from the start of the control stream to the header or record in error.
    public var offset: Int

    public var description: String {
        let name: String
        if let recordType {
            name = ControlRecordType(rawValue: recordType).map { "\($0)" } ?? "record type \(recordType)"
        } else {
            name = "control header"
        }
        return "malformed control stream: \(name) at byte offset \(offset): \(kind.explanation)"
    }
}

/// The control stream's framing constants.
public enum ControlStream {
    /// `"TNDC"`.
    public static let magic: [UInt8] = [0x54, 0x4E, 0x44, 0x43]
    /// The only control version this module writes and reads.
    public static let currentVersion: UInt64 = 1
}

/// Writes a control stream: the header once, then records.
public struct ControlEncoder: Sendable {
    private var wroteHeader = false

    public init() {}

    /// The bytes of `record`, preceded by the control header the first time.
    public mutating func encode(_ record: ControlRecord) -> [UInt8] {
        var out = ByteWriter(capacity: 64)
        if !wroteHeader {
            wroteHeader = true
            out.writeBytes(ControlStream.magic)
            out.writeVarint(ControlStream.currentVersion)
        }
        var payload = ByteWriter(capacity: 32)
        let type: UInt64
        switch record {
        case .unwindTable(let table):
            type = ControlRecordType.unwindTable.rawValue
            payload.writeVarint(table.tableID)
            payload.writeVarint(table.device)
            payload.writeVarint(table.inode)
            payload.writeVarint(UInt64(table.table.count))
            payload.writeBytes(table.table)
        case .unwindMappings(let mappings):
            type = ControlRecordType.unwindMappings.rawValue
            payload.writeInt32(mappings.pid)
            payload.writeVarint(UInt64(mappings.entries.count))
            var previousEnd: UInt64 = 0
            for entry in mappings.entries {
                // Entries are sorted and disjoint: the gap from the previous end is unsigned.
                payload.writeVarint(entry.start &- previousEnd)
                payload.writeVarint(entry.end &- entry.start)
                payload.writeVarint(entry.tableID)
                payload.writeSigned(Int64(bitPattern: entry.bias))
                payload.writeVarint(entry.device)
                payload.writeVarint(entry.inode)
                previousEnd = entry.end
            }
        case .releaseUnwindTable(let tableID):
            type = ControlRecordType.releaseUnwindTable.rawValue
            payload.writeVarint(tableID)
        case .fileRequest(let request):
            type = ControlRecordType.fileRequest.rawValue
            payload.writeInt32(request.pid)
            payload.writeVarint(request.start)
            payload.writeVarint(request.end &- request.start)
            payload.writeVarint(request.device)
            payload.writeVarint(request.inode)
        case .cpythonProcess(let process):
            type = ControlRecordType.cpythonProcess.rawValue
            payload.writeInt32(process.pid)
            payload.writeVarint(process.pythonVersion)
            payload.writeVarint(process.runtimeAddress)
            payload.writeVarint(process.device)
            payload.writeVarint(process.inode)
        case .hotspotProcess(let process):
            type = ControlRecordType.hotspotProcess.rawValue
            payload.writeHotSpotProcess(process)
        case .v8Process(let process):
            type = ControlRecordType.v8Process.rawValue
            payload.writeInt32(process.pid)
            payload.writeVarint(process.v8Version)
            payload.writeVarint(process.v8Patch)
            payload.writeVarint(process.address)
            payload.writeVarint(process.device)
            payload.writeVarint(process.inode)
        case .perlProcess(let process):
            type = ControlRecordType.perlProcess.rawValue
            payload.writeInt32(process.pid)
            payload.writeVarint(process.perlVersion)
            payload.writeVarint(process.threadKeyAddress)
            payload.writeVarint(process.device)
            payload.writeVarint(process.inode)
        case .rubyProcess(let process):
            type = ControlRecordType.rubyProcess.rawValue
            payload.writeInt32(process.pid)
            payload.writeVarint(process.rubyVersion)
            payload.writeVarint(process.moduleSlotAddress)
            payload.writeVarint(process.tlsOffset)
            payload.writeVarint(process.device)
            payload.writeVarint(process.inode)
            payload.writeVarint(process.globalSymbolsAddress)
        case .phpProcess(let process):
            type = ControlRecordType.phpProcess.rawValue
            payload.writeInt32(process.pid)
            payload.writeVarint(process.phpVersion)
            payload.writeVarint(process.executorGlobalsAddress)
            payload.writeVarint(process.device)
            payload.writeVarint(process.inode)
            payload.writeVarint(process.executeDispatch)
            payload.writeVarint(process.dispatchCFAOffset)
            payload.writeVarint(process.jitStart)
            payload.writeVarint(process.jitEnd)
        case .beamProcess(let process):
            type = ControlRecordType.beamProcess.rawValue
            payload.writeInt32(process.pid)
            payload.writeVarint(process.ertsMajor)
            for address in process.addresses { payload.writeVarint(address) }
            payload.writeVarint(process.device)
            payload.writeVarint(process.inode)
        case .unknown(let code, let length):
            type = code
            payload.writeBytes([UInt8](repeating: 0, count: length))
        }
        out.writeVarint(type)
        out.writeVarint(UInt64(payload.count))
        out.writeBytes(payload.bytes)
        return out.bytes
    }
}

/// Decodes a control stream incrementally, in the sampler: feed bytes as they
/// arrive, call `next()` until nil. Every length and count is checked against
/// `ControlDecoderLimits` and the bytes present before anything is allocated;
/// after an error the decoder stays failed.
public struct ControlDecoder {
    public let limits: ControlDecoderLimits
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var bufferBase = 0
    private var hasHeader = false
    private var failure: ControlStreamError?

    public init(limits: ControlDecoderLimits = .default) {
        self.limits = limits
    }

    /// Bytes fed and not yet decoded: at most one incomplete record plus the last chunk.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            buffer.removeSubrange(..<readIndex)
            bufferBase += readIndex
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func next() throws(ControlStreamError) -> ControlRecord? {
        if let failure { throw failure }
        do {
            if !hasHeader {
                guard try decodeHeader() else { return nil }
            }
            return try decodeRecord()
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func decodeHeader() throws(ControlStreamError) -> Bool {
        let magic = ControlStream.magic
        let available = buffer.count - readIndex
        for i in 0..<min(available, magic.count) where buffer[readIndex + i] != magic[i] {
            throw ControlStreamError(kind: .badMagic, recordType: nil, offset: bufferBase + readIndex)
        }
        var cursor = readIndex + magic.count
        guard available > magic.count else { return false }
        let version: UInt64?
        do throws(WireFormatError.Kind) {
            version = try peekVarint(at: &cursor)
        } catch {
            throw ControlStreamError(kind: error, recordType: nil, offset: bufferBase + readIndex)
        }
        guard let version else { return false }
        guard version == ControlStream.currentVersion else {
            throw ControlStreamError(kind: .unsupportedVersion(version), recordType: nil, offset: bufferBase + readIndex)
        }
        readIndex = cursor
        hasHeader = true
        return true
    }

    private mutating func decodeRecord() throws(ControlStreamError) -> ControlRecord? {
        let start = readIndex
        var cursor = start
        var type: UInt64?
        func fail(_ kind: WireFormatError.Kind) -> ControlStreamError {
            ControlStreamError(kind: kind, recordType: type, offset: bufferBase + start)
        }
        let length: UInt64
        do throws(WireFormatError.Kind) {
            guard let code = try peekVarint(at: &cursor) else { return nil }
            type = code
            guard let value = try peekVarint(at: &cursor) else { return nil }
            length = value
        } catch {
            throw fail(error)
        }
        guard length <= UInt64(limits.maximumRecordLength) else {
            throw fail(.limitExceeded(what: "record length", value: length, limit: UInt64(limits.maximumRecordLength)))
        }
        guard buffer.count - cursor >= Int(length) else { return nil }
        let payload = cursor..<cursor + Int(length)
        let limits = self.limits
        let code = type ?? 0
        let result = buffer.withUnsafeBytes { raw -> Result<ControlRecord, WireFormatError.Kind> in
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[payload]))
            return Result { () throws(WireFormatError.Kind) in
                try reader.readControlPayload(type: code, length: Int(length), limits: limits)
            }
        }
        switch result {
        case .success(let record):
            readIndex = payload.upperBound
            return record
        case .failure(let kind):
            throw fail(kind)
        }
    }

    /// A varint at `cursor`: nil if the buffer ends first.
    private func peekVarint(at cursor: inout Int) throws(WireFormatError.Kind) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var index = cursor
        while index < buffer.count {
            let byte = buffer[index]
            index += 1
            if shift == 63 && byte > 1 { throw .malformedVarint }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                cursor = index
                return result
            }
            shift += 7
        }
        return nil
    }
}

extension ByteReader {
    mutating func readControlPayload(type: UInt64, length: Int,
                                     limits: ControlDecoderLimits) throws(WireFormatError.Kind) -> ControlRecord {
        guard let known = ControlRecordType(rawValue: type) else { return .unknown(type: type, length: length) }
        switch known {
        case .unwindTable:
            let id = try readTableID()
            let device = try readVarint()
            let inode = try readVarint()
            let count = try readCount("table length", limit: limits.maximumTableBytes)
            return .unwindTable(UnwindTableRecord(tableID: id, device: device, inode: inode, table: readBytes(count)))
        case .unwindMappings:
            let pid = try readInt32("pid")
            // An entry takes at least 6 bytes: six varints.
            let count = try readCount("unwind mapping count", limit: limits.maximumMappings, minimumEntrySize: 6)
            var entries = [UnwindMapping]()
            entries.reserveCapacity(count)
            var previousEnd: UInt64 = 0
            for _ in 0..<count {
                // Sorted and disjoint: each entry starts at or after the previous end.
                let gap = try readVarint()
                let (start, startOverflow) = previousEnd.addingReportingOverflow(gap)
                guard !startOverflow else { throw .valueOutOfRange(field: "unwind mapping start", value: gap) }
                let length = try readVarint()
                let (end, overflow) = start.addingReportingOverflow(length)
                guard !overflow, length > 0 else { throw .valueOutOfRange(field: "unwind mapping length", value: length) }
                let id = try readTableID()
                let bias = UInt64(bitPattern: try readSigned())
                let device = try readVarint()
                let inode = try readVarint()
                entries.append(UnwindMapping(start: start, end: end, tableID: id, bias: bias, device: device, inode: inode))
                previousEnd = end
            }
            return .unwindMappings(UnwindMappings(pid: pid, entries: entries))
        case .releaseUnwindTable:
            return .releaseUnwindTable(tableID: try readTableID())
        case .fileRequest:
            let pid = try readInt32("pid")
            let start = try readVarint()
            let length = try readVarint()
            let (end, overflow) = start.addingReportingOverflow(length)
            guard !overflow, length > 0 else { throw .valueOutOfRange(field: "file request length", value: length) }
            return .fileRequest(FileRequest(pid: pid, start: start, end: end, device: try readVarint(), inode: try readVarint()))
        case .cpythonProcess:
            let pid = try readInt32("pid")
            let version = try readUInt32("python version")
            let address = try readVarint()
            return .cpythonProcess(CPythonProcess(pid: pid, pythonVersion: version, runtimeAddress: address,
                                                  device: try readVarint(), inode: try readVarint()))
        case .hotspotProcess:
            let pid = try readInt32("pid")
            let version = try readUInt32("jdk feature version")
            let heaps = try readVarint()
            let stub = try readVarint()
            return .hotspotProcess(HotSpotProcess(pid: pid, featureVersion: version, codeCacheHeapsAddress: heaps,
                                                  callStubReturnAddressAddress: stub, device: try readVarint(),
                                                  inode: try readVarint()))
        case .perlProcess:
            let pid = try readInt32("pid")
            let version = try readUInt32("perl version")
            let address = try readVarint()
            return .perlProcess(PerlProcess(pid: pid, perlVersion: version, threadKeyAddress: address,
                                            device: try readVarint(), inode: try readVarint()))
        case .rubyProcess:
            let pid = try readInt32("pid")
            let version = try readUInt32("ruby version")
            let slot = try readVarint()
            let offset = try readVarint()
            let device = try readVarint()
            let inode = try readVarint()
            // Added 2026-12-06: a record from an aggregator before it ends here (no symbol table).
            let symbols = isAtEnd ? 0 : try readVarint()
            return .rubyProcess(RubyProcess(pid: pid, rubyVersion: version, moduleSlotAddress: slot, tlsOffset: offset,
                                            device: device, inode: inode, globalSymbolsAddress: symbols))
        case .phpProcess:
            let pid = try readInt32("pid")
            let version = try readUInt32("php version")
            let address = try readVarint()
            let device = try readVarint()
            let inode = try readVarint()
            let dispatch = try readVarint()
            let cfaOffset = try readUInt32("php dispatch cfa offset")
            let jitStart = try readVarint()
            let jitEnd = try readVarint()
            guard jitStart <= jitEnd else { throw .valueOutOfRange(field: "php jit end", value: jitEnd) }
            return .phpProcess(PHPProcess(pid: pid, phpVersion: version, executorGlobalsAddress: address,
                                          device: device, inode: inode, executeDispatch: dispatch,
                                          dispatchCFAOffset: cfaOffset, jitStart: jitStart, jitEnd: jitEnd))
        case .v8Process:
            let pid = try readInt32("pid")
            let version = try readUInt32("v8 version")
            let patch = try readUInt32("v8 patch")
            let address = try readVarint()
            return .v8Process(V8Process(pid: pid, v8Version: version, v8Patch: patch, address: address,
                                        device: try readVarint(), inode: try readVarint()))
        case .beamProcess:
            let pid = try readInt32("pid")
            let major = try readUInt32("erts major")
            let activeCodeIndex = try readVarint()
            let ranges = try readVarint()
            let atomTable = try readVarint()
            let normalExit = try readVarint()
            let schedulerData = try readVarint()
            let schedulerCount = try readVarint()
            let frameLayout = try readVarint()
            let dirtySchedulerData = try readVarint()
            let dirtySchedulerCount = try readVarint()
            return .beamProcess(BEAMProcess(pid: pid, ertsMajor: major, activeCodeIndexAddress: activeCodeIndex,
                                            rangesAddress: ranges, atomTableAddress: atomTable,
                                            normalExitAddress: normalExit, schedulerDataAddress: schedulerData,
                                            schedulerCountAddress: schedulerCount, frameLayoutAddress: frameLayout,
                                            dirtySchedulerDataAddress: dirtySchedulerData,
                                            dirtySchedulerCountAddress: dirtySchedulerCount,
                                            device: try readVarint(), inode: try readVarint()))
        }
    }

    private mutating func readTableID() throws(WireFormatError.Kind) -> UInt32 {
        let id = try readUInt32("table id")
        guard id >= 1 else { throw .valueOutOfRange(field: "table id", value: 0) }
        return id
    }
}
