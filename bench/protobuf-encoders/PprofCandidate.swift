// The pprof candidate: the profile `PprofWriter.encode` writes, built as swift-protobuf
// messages generated from pprof-profile.proto. The string table and the mapping, location
// and function tables are PprofWriter.swift's own (made internal by
// bench/protobuf-encoders.sh), so the two differ only in how they encode.
import SwiftProtobuf

typealias PprofProfile = Perftools_Profiles_Profile

enum GeneratedPprofEncoder {
    /// The calls of `PprofWriter.encode` (Sources/ProfileOutputs/PprofWriter.swift), in its order.
    static func profile(_ writer: PprofWriter, _ aggregate: ProfileAggregate) -> PprofProfile {
        var strings = StringTable()
        let tables = Tables(aggregate: aggregate, strings: &strings)
        let period = writer.periodNanos
        let valueTypes = writer.sampleTypes.map { valueType(strings.index($0.type), strings.index($0.unit)) }
        let periodType = valueType(strings.index(writer.periodType.type), strings.index(writer.periodType.unit))
        let idUnit = strings.index("id")
        let pidKey = strings.index("pid"), tidKey = strings.index("tid"), commKey = strings.index("comm")
        let truncatedKey = strings.index("user_stack_truncated"), trueValue = strings.index("true")
        let processNames = aggregate.processes.map { strings.index($0.comm) }
        let threadNameKey = strings.index("thread_name")
        let threadNames = aggregate.threadNames.map { strings.index($0) }
        let commentIndices = writer.comments.map { strings.index($0) }

        var profile = PprofProfile()
        profile.sampleType = valueTypes
        let emptyStackLocationID = UInt64(tables.locations.count + 1)
        var hasEmptyStacks = false
        profile.sample = aggregate.cells.map { cell in
            let stack = aggregate.stacks[Int(cell.key.stack)]
            hasEmptyStacks = hasEmptyStacks || stack.isEmpty
            var sample = Perftools_Profiles_Sample()
            sample.locationID = stack.isEmpty ? [emptyStackLocationID] : stack.map { tables.frameLocationIDs[Int($0)] }
            sample.value = writer.sampleTypes.map { $0.value.of(cell, period: period) }
            sample.label = [label(pidKey, num: Int64(aggregate.processes[Int(cell.key.process)].pid), unit: idUnit),
                            label(tidKey, num: Int64(cell.key.threadID), unit: idUnit),
                            label(commKey, str: processNames[Int(cell.key.process)])]
            if !aggregate.threadNames[Int(cell.key.threadName)].isEmpty {
                sample.label.append(label(threadNameKey, str: threadNames[Int(cell.key.threadName)]))
            }
            if cell.key.userStackTruncated { sample.label.append(label(truncatedKey, str: trueValue)) }
            return sample
        }
        profile.mapping = tables.mappings.enumerated().map { index, entry in
            var mapping = Perftools_Profiles_Mapping()
            mapping.id = UInt64(index + 1)
            mapping.memoryStart = entry.memoryStart
            mapping.memoryLimit = entry.memoryLimit
            mapping.fileOffset = entry.fileOffset
            mapping.filename = entry.filename
            mapping.hasFunctions_p = entry.hasFunctions
            return mapping
        }
        profile.location = tables.locations.enumerated().map { index, entry in
            location(id: UInt64(index + 1), mappingID: entry.mappingID, address: entry.address,
                     functionID: entry.functionID, line: entry.line)
        }
        var functions = tables.functions
        if hasEmptyStacks {
            functions.append(Tables.FunctionEntry(name: strings.index(PprofWriter.emptyStackFunctionName),
                                                  filename: 0, startLine: 0))
            profile.location.append(location(id: emptyStackLocationID, mappingID: 0, address: 0,
                                             functionID: UInt64(functions.count), line: 0))
        }
        profile.function = functions.enumerated().map { index, entry in
            var function = Perftools_Profiles_Function()
            function.id = UInt64(index + 1)
            function.name = entry.name
            function.systemName = entry.name
            function.filename = entry.filename
            function.startLine = entry.startLine
            return function
        }
        profile.timeNanos = writer.startTimeUnixNano
        profile.durationNanos = writer.durationNanos
        profile.periodType = periodType
        profile.period = writer.period ?? period
        profile.comment = commentIndices
        profile.stringTable = strings.strings
        return profile
    }

    static func valueType(_ type: Int64, _ unit: Int64) -> Perftools_Profiles_ValueType {
        var out = Perftools_Profiles_ValueType()
        out.type = type
        out.unit = unit
        return out
    }

    static func label(_ key: Int64, str: Int64 = 0, num: Int64 = 0, unit: Int64 = 0) -> Perftools_Profiles_Label {
        var out = Perftools_Profiles_Label()
        out.key = key
        out.str = str
        out.num = num
        out.numUnit = unit
        return out
    }

    static func location(id: UInt64, mappingID: UInt64, address: UInt64, functionID: UInt64,
                         line: Int64) -> Perftools_Profiles_Location {
        var out = Perftools_Profiles_Location()
        out.id = id
        out.mappingID = mappingID
        out.address = address
        var entry = Perftools_Profiles_Line()
        entry.functionID = functionID
        entry.line = line
        out.line = [entry]
        return out
    }
}
