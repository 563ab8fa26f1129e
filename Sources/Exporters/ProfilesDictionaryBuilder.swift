import OTLPProfilesProto
import Profiles

typealias OTLPProfilesDictionary = Opentelemetry_Proto_Profiles_V1development_ProfilesDictionary

/// Interns what the samples of one request refer to into the request's shared
/// `ProfilesDictionary` (profiles/v1development): strings, attributes, functions,
/// mappings, locations and stacks, each table starting with its zero value, as the
/// schema requires, and holding each distinct item once.
struct ProfilesDictionaryBuilder {
    /// An attribute value as the dictionary keys it.
    enum AttributeValue: Hashable {
        case string(String)
        case int(Int64)
        case bool(Bool)
    }

    private struct AttributeKey: Hashable {
        var key: String
        var value: AttributeValue
    }

    /// A function by name and source file (none for native code).
    private struct FunctionKey: Hashable {
        var name: Int32
        var filename: Int32
    }

    private struct LocationKey: Hashable {
        var mapping: Int32
        var address: UInt64
        var function: Int32
        var line: Int64
        var frameType: Int32
    }

    private(set) var dictionary = OTLPProfilesDictionary()
    /// The files' identities by mapping path, put on the mappings.
    var fileIdentities: [String: MappedFileIdentity] = [:]
    private var strings: [String: Int32] = ["": 0]
    private var attributes: [AttributeKey: Int32] = [:]
    private var functions: [FunctionKey: Int32] = [:]
    private var mappings: [String: Int32] = [:]
    private var locations: [LocationKey: Int32] = [:]
    private var stacks: [[Int32]: Int32] = [:]
    /// Location indices by frame: stacks repeat, and so do their frames.
    private var frameLocations: [Frame: Int32] = [:]

    init() {
        dictionary.stringTable = [""]
        dictionary.attributeTable = [.init()]
        dictionary.functionTable = [.init()]
        dictionary.mappingTable = [.init()]
        dictionary.locationTable = [.init()]
        dictionary.stackTable = [.init()]
        dictionary.linkTable = [.init()]
    }

    mutating func string(_ text: String) -> Int32 {
        if let index = strings[text] { return index }
        let index = Int32(dictionary.stringTable.count)
        dictionary.stringTable.append(text)
        strings[text] = index
        return index
    }

    mutating func attribute(_ key: String, _ value: AttributeValue) -> Int32 {
        let attributeKey = AttributeKey(key: key, value: value)
        if let index = attributes[attributeKey] { return index }
        var entry = Opentelemetry_Proto_Profiles_V1development_KeyValueAndUnit()
        entry.keyStrindex = string(key)
        switch value {
        case .string(let text): entry.value.stringValue = text
        case .int(let number): entry.value.intValue = number
        case .bool(let flag): entry.value.boolValue = flag
        }
        let index = Int32(dictionary.attributeTable.count)
        dictionary.attributeTable.append(entry)
        attributes[attributeKey] = index
        return index
    }

    /// The location of `frame`: its mapping (the file it is in), its address (the
    /// offset in that file when known, as the upstream profiler sends native frames),
    /// its function as a line, and its `profile.frame.type`.
    ///
    /// A native or Go frame with a source line from its file's line table has it in its
    /// line, and its function names the source file (inlined calls are not expanded).
    /// An interpreted frame (one with an `interpretedSourceFile`, e.g. Python) has no mapping; its
    /// line holds the source line and its function the source file, and its address is
    /// the line too, as the upstream profiler sends interpreted frames (its address is
    /// "address or line"): the code object's address would only split one line of one
    /// function into a location per process.
    mutating func location(of frame: Frame) -> Int32 {
        if let index = frameLocations[frame] { return index }
        let interpreted = frame.interpretedSourceFile != nil
        let mapping = interpreted ? 0 : frame.mappingPath.map { self.mapping(path: $0) } ?? 0
        let address = interpreted ? UInt64(frame.sourceLine)
            : frame.mappingPath != nil ? (frame.fileOffset ?? frame.address) : frame.address
        // An interpreted frame keeps its file and line even when its name is unknown.
        let name = frame.functionName ?? (interpreted ? frame.displayName : nil)
        let function = name.map { self.function(name: $0, filename: frame.sourceFile) } ?? 0
        let lineNumber = Int64(frame.sourceLine)
        let frameType = attribute("profile.frame.type", .string(Self.frameTypeName(frame.type)))
        let key = LocationKey(mapping: mapping, address: address, function: function, line: lineNumber,
                              frameType: frameType)
        if let index = locations[key] {
            frameLocations[frame] = index
            return index
        }
        var location = Opentelemetry_Proto_Profiles_V1development_Location()
        location.mappingIndex = mapping
        location.address = address
        if function != 0 {
            var line = Opentelemetry_Proto_Profiles_V1development_Line()
            line.functionIndex = function
            line.line = lineNumber
            location.lines = [line]
        }
        location.attributeIndices = [frameType]
        let index = Int32(dictionary.locationTable.count)
        dictionary.locationTable.append(location)
        locations[key] = index
        frameLocations[frame] = index
        return index
    }

    /// The stack of `locationIndices`, leaf first.
    mutating func stack(_ locationIndices: [Int32]) -> Int32 {
        if let index = stacks[locationIndices] { return index }
        var stack = Opentelemetry_Proto_Profiles_V1development_Stack()
        stack.locationIndices = locationIndices
        let index = Int32(dictionary.stackTable.count)
        dictionary.stackTable.append(stack)
        stacks[locationIndices] = index
        return index
    }

    private mutating func function(name: String, filename: String?) -> Int32 {
        let key = FunctionKey(name: string(name), filename: filename.map { string($0) } ?? 0)
        if let index = functions[key] { return index }
        var function = Opentelemetry_Proto_Profiles_V1development_Function()
        function.nameStrindex = key.name
        function.systemNameStrindex = key.name
        function.filenameStrindex = key.filename
        let index = Int32(dictionary.functionTable.count)
        dictionary.functionTable.append(function)
        functions[key] = index
        return index
    }

    private mutating func mapping(path: String) -> Int32 {
        if let index = mappings[path] { return index }
        var mapping = Opentelemetry_Proto_Profiles_V1development_Mapping()
        mapping.filenameStrindex = string(path)
        if let identity = fileIdentities[path] {
            if let buildID = identity.gnuBuildID {
                mapping.attributeIndices.append(attribute("process.executable.build_id.gnu", .string(buildID)))
            }
            if let fileID = identity.fileID {
                mapping.attributeIndices.append(attribute("process.executable.build_id.htlhash", .string(fileID)))
            }
        }
        let index = Int32(dictionary.mappingTable.count)
        dictionary.mappingTable.append(mapping)
        mappings[path] = index
        return index
    }

    /// The `profile.frame.type` value: upstream's names; Rust frames are native code to it.
    static func frameTypeName(_ type: FrameType) -> String {
        type == .rust ? FrameType.native.rawValue : type.rawValue
    }
}
