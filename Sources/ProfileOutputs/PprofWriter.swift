import Compression
import Profiles

/// Writes a profile as pprof's `perftools.profiles.Profile`
/// (github.com/google/pprof, proto/profile.proto), gzip-compressed as `go
/// tool pprof` and other pprof readers expect it on disk.
///
/// Each distinct (process, thread, stack) becomes one sample with the values
/// `samples/count` and `cpu/nanoseconds`, and the labels `pid` and `tid`
/// (numbers) and `comm` (string). Each distinct native frame becomes one location
/// with its address, its mapping and one line naming its function; frames
/// without a symbol get their `Frame.displayName` (`file+0xoffset`) as the
/// function name, so that pprof shows them rather than trying to symbolize.
///
/// An interpreted frame (one with a `sourceFile`, e.g. Python) has no machine
/// address and no mapping: its location has mapping id 0 (profile.proto: "unset if
/// the mapping is unknown or not applicable") and address 0, and one line with its
/// `sourceLine`; its function is named by the function and carries the source file
/// (`start_line` 0: frames do not carry the first line). Such locations are one per
/// (function, line), so that `-lines` tells a function's lines apart and processes
/// running the same code share them.
public struct PprofWriter: Sendable {
    /// The sampling frequency; one sample stands for `1e9 / samplesPerSecond`
    /// nanoseconds of CPU time.
    public var samplesPerSecond: UInt32
    /// When the profile started, in nanoseconds since the Unix epoch (the
    /// caller converts the monotonic sample times with the stream's clock
    /// reference).
    public var startTimeUnixNano: Int64
    /// How long the profile covers, in nanoseconds.
    public var durationNanos: Int64
    /// Free-form comments stored in the profile (pprof shows them with `-comments`).
    public var comments: [String]

    public init(samplesPerSecond: UInt32, startTimeUnixNano: Int64 = 0, durationNanos: Int64 = 0,
                comments: [String] = []) {
        self.samplesPerSecond = samplesPerSecond
        self.startTimeUnixNano = startTimeUnixNano
        self.durationNanos = durationNanos
        self.comments = comments
    }

    /// Nanoseconds of CPU time per sample.
    public var periodNanos: Int64 {
        samplesPerSecond == 0 ? 0 : 1_000_000_000 / Int64(samplesPerSecond)
    }

    /// The mapping name given to kernel frames that carry no mapping path.
    public static let kernelMappingName = "[kernel.kallsyms]"
    /// The function of the one location given to samples without frames:
    /// pprof counts a sample without locations in its total but shows it in
    /// no view, so the views would not add up to the total.
    public static let emptyStackFunctionName = "[no stack]"

    // Field numbers of profile.proto.
    private enum ProfileField {
        static let sampleType: UInt64 = 1, sample: UInt64 = 2, mapping: UInt64 = 3
        static let location: UInt64 = 4, function: UInt64 = 5, stringTable: UInt64 = 6
        static let timeNanos: UInt64 = 9, durationNanos: UInt64 = 10, periodType: UInt64 = 11
        static let period: UInt64 = 12, comment: UInt64 = 13
    }
    private enum ValueTypeField { static let type: UInt64 = 1, unit: UInt64 = 2 }
    private enum SampleField { static let locationID: UInt64 = 1, value: UInt64 = 2, label: UInt64 = 3 }
    private enum LabelField { static let key: UInt64 = 1, str: UInt64 = 2, num: UInt64 = 3, numUnit: UInt64 = 4 }
    private enum MappingField {
        static let id: UInt64 = 1, memoryStart: UInt64 = 2, memoryLimit: UInt64 = 3
        static let fileOffset: UInt64 = 4, filename: UInt64 = 5, hasFunctions: UInt64 = 7
    }
    private enum LocationField { static let id: UInt64 = 1, mappingID: UInt64 = 2, address: UInt64 = 3, line: UInt64 = 4 }
    private enum LineField { static let functionID: UInt64 = 1, line: UInt64 = 2 }
    private enum FunctionField {
        static let id: UInt64 = 1, name: UInt64 = 2, systemName: UInt64 = 3, filename: UInt64 = 4, startLine: UInt64 = 5
    }

    /// The serialized, uncompressed `Profile` message.
    public func encode(_ aggregate: ProfileAggregate) -> [UInt8] {
        var strings = StringTable()
        let tables = Tables(aggregate: aggregate, strings: &strings)
        let period = periodNanos
        let samplesKey = strings.index("samples"), countUnit = strings.index("count")
        let cpuKey = strings.index("cpu"), nanosecondsUnit = strings.index("nanoseconds")
        let idUnit = strings.index("id")
        let pidKey = strings.index("pid"), tidKey = strings.index("tid"), commKey = strings.index("comm")
        let truncatedKey = strings.index("user_stack_truncated"), trueValue = strings.index("true")
        let processNames = aggregate.processes.map { strings.index($0.comm) }
        let commentIndices = comments.map { strings.index($0) }

        var profile = ProtobufEncoder()
        profile.message(ProfileField.sampleType) {
            $0.int64(ValueTypeField.type, samplesKey)
            $0.int64(ValueTypeField.unit, countUnit)
        }
        profile.message(ProfileField.sampleType) {
            $0.int64(ValueTypeField.type, cpuKey)
            $0.int64(ValueTypeField.unit, nanosecondsUnit)
        }
        // The location id after the frames' stands for "no stack".
        let emptyStackLocationID = UInt64(tables.locations.count + 1)
        var hasEmptyStacks = false
        for cell in aggregate.cells {
            let process = aggregate.processes[Int(cell.key.process)]
            let stack = aggregate.stacks[Int(cell.key.stack)]
            hasEmptyStacks = hasEmptyStacks || stack.isEmpty
            profile.message(ProfileField.sample) { sample in
                // The stack is already leaf first, as pprof wants it.
                sample.packed(SampleField.locationID,
                              stack.isEmpty ? [emptyStackLocationID] : stack.map { tables.frameLocationIDs[Int($0)] })
                sample.packed(SampleField.value, [UInt64(bitPattern: cell.count),
                                                  UInt64(bitPattern: cell.count &* period)])
                sample.message(SampleField.label) {
                    $0.int64(LabelField.key, pidKey)
                    $0.int64(LabelField.num, Int64(process.pid))
                    $0.int64(LabelField.numUnit, idUnit)
                }
                sample.message(SampleField.label) {
                    $0.int64(LabelField.key, tidKey)
                    $0.int64(LabelField.num, Int64(cell.key.threadID))
                    $0.int64(LabelField.numUnit, idUnit)
                }
                sample.message(SampleField.label) {
                    $0.int64(LabelField.key, commKey)
                    $0.int64(LabelField.str, processNames[Int(cell.key.process)])
                }
                if cell.key.userStackTruncated {
                    sample.message(SampleField.label) {
                        $0.int64(LabelField.key, truncatedKey)
                        $0.int64(LabelField.str, trueValue)
                    }
                }
            }
        }
        for (index, mapping) in tables.mappings.enumerated() {
            profile.message(ProfileField.mapping) {
                $0.uint64(MappingField.id, UInt64(index + 1))
                $0.uint64(MappingField.memoryStart, mapping.memoryStart)
                $0.uint64(MappingField.memoryLimit, mapping.memoryLimit)
                $0.uint64(MappingField.fileOffset, mapping.fileOffset)
                $0.int64(MappingField.filename, mapping.filename)
                $0.bool(MappingField.hasFunctions, mapping.hasFunctions)
            }
        }
        for (index, location) in tables.locations.enumerated() {
            profile.message(ProfileField.location) {
                $0.uint64(LocationField.id, UInt64(index + 1))
                $0.uint64(LocationField.mappingID, location.mappingID)
                $0.uint64(LocationField.address, location.address)
                $0.message(LocationField.line) {
                    $0.uint64(LineField.functionID, location.functionID)
                    $0.int64(LineField.line, location.line)
                }
            }
        }
        var functions = tables.functions
        if hasEmptyStacks {
            functions.append(Tables.FunctionEntry(name: strings.index(Self.emptyStackFunctionName), filename: 0,
                                                  startLine: 0))
            let functionID = UInt64(functions.count)
            profile.message(ProfileField.location) {
                $0.uint64(LocationField.id, emptyStackLocationID)
                $0.message(LocationField.line) { $0.uint64(LineField.functionID, functionID) }
            }
        }
        for (index, function) in functions.enumerated() {
            profile.message(ProfileField.function) {
                $0.uint64(FunctionField.id, UInt64(index + 1))
                $0.int64(FunctionField.name, function.name)
                $0.int64(FunctionField.systemName, function.name)
                $0.int64(FunctionField.filename, function.filename)
                $0.int64(FunctionField.startLine, function.startLine)
            }
        }
        profile.int64(ProfileField.timeNanos, startTimeUnixNano)
        profile.int64(ProfileField.durationNanos, durationNanos)
        profile.message(ProfileField.periodType) {
            $0.int64(ValueTypeField.type, cpuKey)
            $0.int64(ValueTypeField.unit, nanosecondsUnit)
        }
        profile.int64(ProfileField.period, period)
        profile.packed(ProfileField.comment, commentIndices.map { UInt64(bitPattern: $0) })
        // Last, once every string above has its index.
        for string in strings.strings { profile.string(ProfileField.stringTable, string) }
        return profile.bytes
    }

    /// The profile, gzip-compressed: the content of a `.pb.gz` file.
    public func gzipped(_ aggregate: ProfileAggregate) throws(ProfileOutputError) -> [UInt8] {
        do {
            return try Gzip.compress(encode(aggregate))
        } catch {
            throw .compressionFailed(call: error.call, code: error.code)
        }
    }

    /// Writes `gzipped(aggregate)` to `path`, replacing the file atomically.
    public func write(_ aggregate: ProfileAggregate, toFile path: String) throws(ProfileOutputError) {
        try OutputFile.replaceContents(ofFile: path, with: gzipped(aggregate))
    }
}

/// pprof's string table: every string once, `""` at index 0.
private struct StringTable {
    private(set) var strings: [String] = [""]
    private var indices: [String: Int64] = ["": 0]

    mutating func index(_ string: String) -> Int64 {
        if let index = indices[string] { return index }
        let index = Int64(strings.count)
        strings.append(string)
        indices[string] = index
        return index
    }
}

/// The mappings, locations and functions of a profile, derived from its distinct frames.
private struct Tables {
    struct MappingEntry {
        var filename: Int64
        var memoryStart: UInt64
        var memoryLimit: UInt64
        var fileOffset: UInt64
        var hasFunctions: Bool
    }

    struct LocationEntry {
        var mappingID: UInt64
        var address: UInt64
        var functionID: UInt64
        var line: Int64
    }

    struct FunctionEntry {
        var name: Int64
        var filename: Int64
        var startLine: Int64
    }

    /// A file mapped at one place: the same library at another load bias (in
    /// another process) is another mapping.
    private struct MappingKey: Hashable {
        var path: String
        var loadBias: UInt64?
    }

    /// A function by name and file: the native frame's mapped file, the
    /// interpreted frame's source file.
    private struct FunctionKey: Hashable {
        var name: String
        var path: String
    }

    /// An interpreted frame's location: its function and line, whatever the process.
    private struct SourceLocationKey: Hashable {
        var functionID: UInt64
        var line: UInt32
    }

    var mappings: [MappingEntry] = []
    var locations: [LocationEntry] = []
    var functions: [FunctionEntry] = []
    /// Per frame id: its location id.
    var frameLocationIDs: [UInt64] = []
    private var functionIDs: [FunctionKey: UInt64] = [:]

    init(aggregate: ProfileAggregate, strings: inout StringTable) {
        var mappingIDs: [MappingKey: Int] = [:]
        var sourceLocationIDs: [SourceLocationKey: UInt64] = [:]
        frameLocationIDs.reserveCapacity(aggregate.frames.count)
        for frame in aggregate.frames {
            if frame.interpretedSourceFile != nil {
                let functionID = function(of: frame, strings: &strings)
                let key = SourceLocationKey(functionID: functionID, line: frame.sourceLine)
                if let id = sourceLocationIDs[key] {
                    frameLocationIDs.append(id)
                } else {
                    locations.append(LocationEntry(mappingID: 0, address: 0, functionID: functionID,
                                                   line: Int64(frame.sourceLine)))
                    sourceLocationIDs[key] = UInt64(locations.count)
                    frameLocationIDs.append(UInt64(locations.count))
                }
                continue
            }

            var mappingID: UInt64 = 0
            let path = frame.mappingPath ?? (frame.type == .kernel ? PprofWriter.kernelMappingName : nil)
            if let path {
                let key = MappingKey(path: path, loadBias: frame.fileOffset.map { frame.address &- $0 })
                if let index = mappingIDs[key] {
                    if frame.address < mappings[index].memoryStart {
                        mappings[index].memoryStart = frame.address
                        mappings[index].fileOffset = frame.fileOffset ?? 0
                    }
                    mappings[index].memoryLimit = max(mappings[index].memoryLimit, frame.address &+ 1)
                    mappings[index].hasFunctions = mappings[index].hasFunctions && frame.functionName != nil
                } else {
                    mappingIDs[key] = mappings.count
                    mappings.append(MappingEntry(filename: strings.index(path), memoryStart: frame.address,
                                                 memoryLimit: frame.address &+ 1, fileOffset: frame.fileOffset ?? 0,
                                                 hasFunctions: frame.functionName != nil))
                }
                mappingID = UInt64(mappingIDs[key]! + 1)
            }
            locations.append(LocationEntry(mappingID: mappingID, address: frame.address,
                                           functionID: function(of: frame, strings: &strings), line: 0))
            frameLocationIDs.append(UInt64(locations.count))
        }
    }

    /// The id of `frame`'s function, added on first use.
    private mutating func function(of frame: Frame, strings: inout StringTable) -> UInt64 {
        let key = FunctionKey(name: frame.displayName, path: frame.interpretedSourceFile ?? frame.mappingPath ?? "")
        if let id = functionIDs[key] { return id }
        functions.append(FunctionEntry(name: strings.index(key.name), filename: strings.index(key.path), startLine: 0))
        functionIDs[key] = UInt64(functions.count)
        return UInt64(functions.count)
    }
}
