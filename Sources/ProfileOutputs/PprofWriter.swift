import Compression
import Profiles
import ProtobufWire

/// Writes a profile as pprof's `perftools.profiles.Profile`
/// (github.com/google/pprof, proto/profile.proto), gzip-compressed as `go
/// tool pprof` and other pprof readers expect it on disk.
///
/// Each distinct (process, thread, stack) becomes one sample with one value per
/// `sampleTypes` entry (on-CPU: `samples/count` and `cpu/nanoseconds`), and the labels `pid` and `tid`
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
    /// The values of each sample, in order; `go tool pprof` shows the last by default.
    public var sampleTypes: [PprofSampleType]
    /// The profile's `period_type`: what one sampling event stands for.
    public var periodType: PprofSampleType
    /// The profile's `period`, in `periodType` units; nil for `periodNanos` (on-CPU: the
    /// CPU time of one tick). An off-CPU profile has no fixed period: each wait counts
    /// its own nanoseconds, so 1.
    public var period: Int64?
    /// When the profile started, in nanoseconds since the Unix epoch (the
    /// caller converts the monotonic sample times with the stream's clock
    /// reference).
    public var startTimeUnixNano: Int64
    /// How long the profile covers, in nanoseconds.
    public var durationNanos: Int64
    /// Free-form comments stored in the profile (pprof shows them with `-comments`).
    public var comments: [String]

    public init(samplesPerSecond: UInt32, sampleTypes: [PprofSampleType] = PprofSampleType.onCPU,
                periodType: PprofSampleType = .cpu, period: Int64? = nil, startTimeUnixNano: Int64 = 0, durationNanos: Int64 = 0,
                comments: [String] = []) {
        self.samplesPerSecond = samplesPerSecond
        self.sampleTypes = sampleTypes
        self.periodType = periodType
        self.period = period
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
        static let sampleType: UInt32 = 1, sample: UInt32 = 2, mapping: UInt32 = 3
        static let location: UInt32 = 4, function: UInt32 = 5, stringTable: UInt32 = 6
        static let timeNanos: UInt32 = 9, durationNanos: UInt32 = 10, periodType: UInt32 = 11
        static let period: UInt32 = 12, comment: UInt32 = 13
    }
    private enum ValueTypeField { static let type: UInt32 = 1, unit: UInt32 = 2 }
    private enum SampleField { static let locationID: UInt32 = 1, value: UInt32 = 2, label: UInt32 = 3 }
    private enum LabelField { static let key: UInt32 = 1, str: UInt32 = 2, num: UInt32 = 3, numUnit: UInt32 = 4 }
    private enum MappingField {
        static let id: UInt32 = 1, memoryStart: UInt32 = 2, memoryLimit: UInt32 = 3
        static let fileOffset: UInt32 = 4, filename: UInt32 = 5, hasFunctions: UInt32 = 7
    }
    private enum LocationField { static let id: UInt32 = 1, mappingID: UInt32 = 2, address: UInt32 = 3, line: UInt32 = 4 }
    private enum LineField { static let functionID: UInt32 = 1, line: UInt32 = 2 }
    private enum FunctionField {
        static let id: UInt32 = 1, name: UInt32 = 2, systemName: UInt32 = 3, filename: UInt32 = 4, startLine: UInt32 = 5
    }

    /// The serialized, uncompressed `Profile` message.
    public func encode(_ aggregate: ProfileAggregate) -> [UInt8] {
        var strings = StringTable()
        let tables = Tables(aggregate: aggregate, strings: &strings)
        let period = periodNanos
        let valueTypes = sampleTypes.map { (strings.index($0.type), strings.index($0.unit)) }
        let periodKey = strings.index(periodType.type), periodUnit = strings.index(periodType.unit)
        let idUnit = strings.index("id")
        let pidKey = strings.index("pid"), tidKey = strings.index("tid"), commKey = strings.index("comm")
        let truncatedKey = strings.index("user_stack_truncated"), trueValue = strings.index("true")
        let processNames = aggregate.processes.map { strings.index($0.comm) }
        let threadNameKey = strings.index("thread_name")
        let threadNames = aggregate.threadNames.map { strings.index($0) }
        let commentIndices = comments.map { strings.index($0) }

        var profile = ProtobufWriter()
        for (type, unit) in valueTypes {
            profile.writeMessageField(ProfileField.sampleType) {
                $0.writeInt64Field(ValueTypeField.type, type)
                $0.writeInt64Field(ValueTypeField.unit, unit)
            }
        }
        // The location id after the frames' stands for "no stack".
        let emptyStackLocationID = UInt64(tables.locations.count + 1)
        var hasEmptyStacks = false
        for cell in aggregate.cells {
            let process = aggregate.processes[Int(cell.key.process)]
            let stack = aggregate.stacks[Int(cell.key.stack)]
            hasEmptyStacks = hasEmptyStacks || stack.isEmpty
            profile.writeMessageField(ProfileField.sample) { sample in
                // The stack is already leaf first, as pprof wants it.
                sample.writePackedVarintField(SampleField.locationID,
                              stack.isEmpty ? [emptyStackLocationID] : stack.map { tables.frameLocationIDs[Int($0)] })
                sample.writePackedVarintField(SampleField.value, sampleTypes.map {
                    UInt64(bitPattern: $0.value.of(cell, period: period))
                })
                sample.writeMessageField(SampleField.label) {
                    $0.writeInt64Field(LabelField.key, pidKey)
                    $0.writeInt64Field(LabelField.num, Int64(process.pid))
                    $0.writeInt64Field(LabelField.numUnit, idUnit)
                }
                sample.writeMessageField(SampleField.label) {
                    $0.writeInt64Field(LabelField.key, tidKey)
                    $0.writeInt64Field(LabelField.num, Int64(cell.key.threadID))
                    $0.writeInt64Field(LabelField.numUnit, idUnit)
                }
                sample.writeMessageField(SampleField.label) {
                    $0.writeInt64Field(LabelField.key, commKey)
                    $0.writeInt64Field(LabelField.str, processNames[Int(cell.key.process)])
                }
                if !aggregate.threadNames[Int(cell.key.threadName)].isEmpty {
                    sample.writeMessageField(SampleField.label) {
                        $0.writeInt64Field(LabelField.key, threadNameKey)
                        $0.writeInt64Field(LabelField.str, threadNames[Int(cell.key.threadName)])
                    }
                }
                if cell.key.userStackTruncated {
                    sample.writeMessageField(SampleField.label) {
                        $0.writeInt64Field(LabelField.key, truncatedKey)
                        $0.writeInt64Field(LabelField.str, trueValue)
                    }
                }
            }
        }
        for (index, mapping) in tables.mappings.enumerated() {
            profile.writeMessageField(ProfileField.mapping) {
                $0.writeVarintField(MappingField.id, UInt64(index + 1))
                $0.writeVarintField(MappingField.memoryStart, mapping.memoryStart)
                $0.writeVarintField(MappingField.memoryLimit, mapping.memoryLimit)
                $0.writeVarintField(MappingField.fileOffset, mapping.fileOffset)
                $0.writeInt64Field(MappingField.filename, mapping.filename)
                $0.writeBoolField(MappingField.hasFunctions, mapping.hasFunctions)
            }
        }
        for (index, location) in tables.locations.enumerated() {
            profile.writeMessageField(ProfileField.location) {
                $0.writeVarintField(LocationField.id, UInt64(index + 1))
                $0.writeVarintField(LocationField.mappingID, location.mappingID)
                $0.writeVarintField(LocationField.address, location.address)
                $0.writeMessageField(LocationField.line) {
                    $0.writeVarintField(LineField.functionID, location.functionID)
                    $0.writeInt64Field(LineField.line, location.line)
                }
            }
        }
        var functions = tables.functions
        if hasEmptyStacks {
            functions.append(Tables.FunctionEntry(name: strings.index(Self.emptyStackFunctionName), filename: 0,
                                                  startLine: 0))
            let functionID = UInt64(functions.count)
            profile.writeMessageField(ProfileField.location) {
                $0.writeVarintField(LocationField.id, emptyStackLocationID)
                $0.writeMessageField(LocationField.line) { $0.writeVarintField(LineField.functionID, functionID) }
            }
        }
        for (index, function) in functions.enumerated() {
            profile.writeMessageField(ProfileField.function) {
                $0.writeVarintField(FunctionField.id, UInt64(index + 1))
                $0.writeInt64Field(FunctionField.name, function.name)
                $0.writeInt64Field(FunctionField.systemName, function.name)
                $0.writeInt64Field(FunctionField.filename, function.filename)
                $0.writeInt64Field(FunctionField.startLine, function.startLine)
            }
        }
        profile.writeInt64Field(ProfileField.timeNanos, startTimeUnixNano)
        profile.writeInt64Field(ProfileField.durationNanos, durationNanos)
        profile.writeMessageField(ProfileField.periodType) {
            $0.writeInt64Field(ValueTypeField.type, periodKey)
            $0.writeInt64Field(ValueTypeField.unit, periodUnit)
        }
        profile.writeInt64Field(ProfileField.period, self.period ?? period)
        profile.writePackedVarintField(ProfileField.comment, commentIndices.map { UInt64(bitPattern: $0) })
        // Last, once every string above has its index.
        for string in strings.strings { profile.writeStringField(ProfileField.stringTable, string, always: true) }
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
