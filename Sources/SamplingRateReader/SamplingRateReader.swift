import WireFormat

/// Reads the two settings tandem-sampler takes from the shared YAML configuration,
/// `receivers.profiling.samples_per_second` (or its older spelling `SamplesPerSecond`) and
/// `receivers.profiling.off_cpu_threshold`, without a YAML library: the sampler reads the
/// file as root, before it drops its start-up capabilities, so the reader is small, bounded
/// (`maximumBytes`, one pass, no recursion) and strict.
///
/// It understands the block-mapping shape the packaged configurations use and refuses,
/// with the file, the line and a fix, whatever it could misread rather than guess:
/// flow style, anchors, aliases, tags or merge keys on the way to the key, quoted or
/// complex keys, duplicate keys, tabs in indentation, several documents, named
/// `profiling/...` receivers, a rate that is not plain decimal digits, a threshold that is
/// not a plain decimal fraction from 0 to 1. Lines outside
/// `receivers.profiling` are only split into keys and skipped; the aggregator
/// (`tandem-aggregator validate`) checks the whole file.
public enum SamplingRateReader {
    /// The largest configuration accepted, as the aggregator's (`ConfigDocument.maximumBytes`).
    public static let maximumBytes = 1 << 20

    /// The two spellings of the rate's key, newer first.
    public static let keys = ["samples_per_second", "SamplesPerSecond"]

    /// The off-CPU threshold's key (upstream's; its untagged older form `OffCPUThreshold`
    /// took a whole percentage, so it is refused rather than read in the wrong unit).
    public static let offCPUKey = "off_cpu_threshold"

    /// Most digits after the point of a threshold: finer than the BPF program's 2^-32 steps
    /// is meaningless, and the bound keeps the parse in integers.
    public static let maximumFractionDigits = 9

    /// What the file sets; nil where it sets nothing.
    public struct Settings: Hashable, Sendable {
        public var samplesPerSecond: Int?
        /// The share (0...1) of switches off the CPU recorded; 0 = off.
        public var offCPUThreshold: Double?

        public init(samplesPerSecond: Int? = nil, offCPUThreshold: Double? = nil) {
            self.samplesPerSecond = samplesPerSecond
            self.offCPUThreshold = offCPUThreshold
        }
    }

    /// A configuration the reader refuses: where, why, and what to write instead.
    public struct Problem: Error, Hashable, Sendable, CustomStringConvertible {
        public var path: String
        /// 1-based; 0 when the problem is the file as a whole.
        public var line: Int
        public var reason: String
        public var fix: String

        public var description: String {
            "\(path)\(line > 0 ? ":\(line)" : ""): \(reason); \(fix)"
        }
    }

    /// The settings `text` sets (none without `receivers.profiling`). `path` names the file in errors.
    public static func settings(in text: some Collection<UInt8>, path: String) throws(Problem) -> Settings {
        guard text.count <= maximumBytes else {
            throw Problem(path: path, line: 0, reason: "\(text.count) bytes, above the \(maximumBytes)-byte bound",
                          fix: "keep the configuration under 1 MiB")
        }
        var scanner = Scanner(path: path)
        var line: [UInt8] = []
        var number = 0
        for byte in text {
            if byte == UInt8(ascii: "\n") {
                number += 1
                try scanner.read(line: line, number: number)
                line.removeAll(keepingCapacity: true)
            } else {
                line.append(byte)
            }
        }
        if !line.isEmpty { try scanner.read(line: line, number: number + 1) }
        return try scanner.result()
    }
}

extension SamplingRateReader {
    /// Why a threshold's text was refused, and what to write instead.
    public struct ThresholdRefusal: Error, Hashable, Sendable {
        public var reason: String
        public var fix: String
    }

    /// The off-CPU threshold `text` spells: `0`, `1`, or `0.` or `1.` then 1 to
    /// `maximumFractionDigits` digits (only zeros after `1.`). No sign, exponent, leading
    /// point, `.nan` or `.inf`: what YAML or a float parser could read some other way is
    /// refused, not guessed. The aggregator's configuration reader uses it too, so both
    /// daemons accept the same spellings.
    public static func offCPUThreshold(plain text: some Collection<UInt8>) throws(ThresholdRefusal) -> Double {
        let shown = String(decoding: text.prefix(40), as: UTF8.self)
        let fix = "write a plain decimal from 0 (off) to 1 (every switch), e.g. `\(offCPUKey): 0.01`"
        let notAShare = ThresholdRefusal(reason: "must be a share from 0 to 1 in plain decimal, not `\(shown)`", fix: fix)
        guard let whole = text.first else { throw ThresholdRefusal(reason: "has no value", fix: fix) }
        guard whole == UInt8(ascii: "0") || whole == UInt8(ascii: "1") else { throw notAShare }
        var fraction = text.dropFirst()
        if !fraction.isEmpty {
            guard fraction.first == UInt8(ascii: "."), fraction.count >= 2 else { throw notAShare }
            fraction = fraction.dropFirst()
        }
        guard fraction.count <= maximumFractionDigits else {
            throw ThresholdRefusal(reason: "has more than \(maximumFractionDigits) digits after the point",
                                   fix: "round it, e.g. `\(offCPUKey): 0.000001`")
        }
        var numerator = 0
        var scale = 1
        for digit in fraction {
            guard digit >= UInt8(ascii: "0") && digit <= UInt8(ascii: "9") else { throw notAShare }
            numerator = numerator * 10 + Int(digit - UInt8(ascii: "0"))
            scale *= 10
        }
        if whole == UInt8(ascii: "1") {
            guard numerator == 0 else { throw ThresholdRefusal(reason: "is \(shown), above 1", fix: fix) }
            return 1
        }
        return Double(numerator) / Double(scale)
    }
}

extension SamplingRateReader {
    /// Where the scanner is in the document's structure.
    private enum Section {
        /// A top-level key other than `receivers`, or before the first key.
        case elsewhere
        /// In `receivers`; `childIndent` is its keys' indentation once seen.
        case receivers(childIndent: Int?)
        /// In `receivers.profiling`, whose key is at `receiverIndent`.
        case profiling(receiverIndent: Int, childIndent: Int?)
    }

    private struct Scanner {
        let path: String
        var section = Section.elsewhere
        var sawContent = false
        var sawReceivers = false
        var sawProfiling = false
        /// The rate by key spelling, with the line that set it.
        var values: [String: (rate: Int, line: Int)] = [:]
        /// The off-CPU threshold, with the line that set it.
        var threshold: (value: Double, line: Int)?

        init(path: String) { self.path = path }

        func problem(_ line: Int, _ reason: String, _ fix: String) -> Problem {
            Problem(path: path, line: line, reason: reason, fix: fix)
        }

        mutating func read(line raw: [UInt8], number: Int) throws(Problem) {
            var line = raw[...]
            if number == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line = line.dropFirst(3) }
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if let bad = line.first(where: { $0 < 0x20 && $0 != UInt8(ascii: "\t") || $0 == 0x7F }) {
                throw problem(number, "control character 0x\(String(bad, radix: 16)) in the text",
                              "save the configuration as plain UTF-8 text")
            }
            guard String(decoding: line, as: UTF8.self).utf8.elementsEqual(line) else {
                throw problem(number, "not valid UTF-8", "save the configuration as UTF-8")
            }
            let indent = line.prefix { $0 == UInt8(ascii: " ") }.count
            let content = line.dropFirst(indent)
            if content.first == UInt8(ascii: "\t") {
                let rest = content.drop { $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: " ") }
                if rest.isEmpty || rest.first == UInt8(ascii: "#") { return }
                throw problem(number, "a tab in the indentation", "indent with spaces (YAML does not allow tabs there)")
            }
            if content.isEmpty || content.first == UInt8(ascii: "#") { return }

            if indent == 0 {
                try readTopLevel(content, number: number)
                sawContent = true
                return
            }
            switch section {
            case .elsewhere:
                guard sawContent else {
                    throw problem(number, "the document does not start at column 1", "start the top-level keys at the left margin")
                }
            case .receivers(let childIndent):
                try readReceiver(content, indent: indent, childIndent: childIndent, number: number)
            case .profiling(let receiverIndent, let childIndent):
                if indent <= receiverIndent {
                    section = .receivers(childIndent: receiverIndent)
                    try readReceiver(content, indent: indent, childIndent: receiverIndent, number: number)
                } else {
                    try readProfiling(content, indent: indent, receiverIndent: receiverIndent,
                                      childIndent: childIndent, number: number)
                }
            }
        }

        mutating func readTopLevel(_ content: ArraySlice<UInt8>, number: Int) throws(Problem) {
            if content.starts(with: Array("---".utf8)) {
                let rest = content.dropFirst(3)
                guard !sawContent else {
                    throw problem(number, "a second YAML document (`---`)", "keep one document in the configuration")
                }
                guard rest.allSatisfy({ $0 == UInt8(ascii: " ") }) || rest.starts(with: Array(" #".utf8)) else {
                    throw problem(number, "content after `---`", "start the first key on the line below `---`")
                }
                return
            }
            let (key, value) = try entry(content, number: number, at: "the top level")
            if key == "receivers" {
                guard !sawReceivers else {
                    throw problem(number, "`receivers` appears twice", "merge the two `receivers` mappings into one")
                }
                try requireBlock(value, key: "receivers", number: number)
                sawReceivers = true
                section = .receivers(childIndent: nil)
            } else {
                try requireOneLine(value, key: key, number: number)
                section = .elsewhere
            }
        }

        mutating func readReceiver(_ content: ArraySlice<UInt8>, indent: Int, childIndent: Int?, number: Int) throws(Problem) {
            let childIndent = childIndent ?? indent
            section = .receivers(childIndent: childIndent)
            if indent > childIndent { return }  // inside another receiver's settings
            guard indent == childIndent else {
                throw problem(number, "indented \(indent) spaces where the receivers above are at \(childIndent)",
                              "indent every receiver by the same number of spaces")
            }
            let (key, value) = try entry(content, number: number, at: "receivers")
            if key == "profiling" {
                guard !sawProfiling else {
                    throw problem(number, "`receivers.profiling` appears twice", "keep one `profiling` receiver")
                }
                try requireBlock(value, key: "receivers.profiling", number: number)
                sawProfiling = true
                section = .profiling(receiverIndent: childIndent, childIndent: nil)
            } else if key.hasPrefix("profiling/") {
                throw problem(number, "a named profiling receiver `\(key)`: tandem-sampler reads only `receivers.profiling`",
                              "rename it `profiling`, or give the rate with --samples-per-second")
            } else {
                try requireOneLine(value, key: "receivers.\(key)", number: number)
            }
        }

        mutating func readProfiling(_ content: ArraySlice<UInt8>, indent: Int, receiverIndent: Int,
                                    childIndent: Int?, number: Int) throws(Problem) {
            let childIndent = childIndent ?? indent
            section = .profiling(receiverIndent: receiverIndent, childIndent: childIndent)
            if indent > childIndent { return }  // inside another setting's value
            guard indent == childIndent else {
                throw problem(number, "indented \(indent) spaces where the settings above are at \(childIndent)",
                              "indent every key of `receivers.profiling` by the same number of spaces")
            }
            let (key, value) = try entry(content, number: number, at: "receivers.profiling")
            if key == SamplingRateReader.offCPUKey {
                guard threshold == nil else {
                    throw problem(number, "`receivers.profiling.\(key)` appears twice", "keep one")
                }
                threshold = (try share(value, number: number), number)
                return
            }
            guard SamplingRateReader.keys.contains(key) else {
                if key == "<<" {
                    throw problem(number, "a merge key (`<<`) in `receivers.profiling`", "write its settings out in `receivers.profiling`")
                }
                if key == "OffCPUThreshold" {
                    throw problem(number, "`OffCPUThreshold` is the older receivers' whole percentage",
                                  "write the share from 0 to 1 as `off_cpu_threshold: 0.01`")
                }
                return try requireOneLine(value, key: "receivers.profiling.\(key)", number: number)
            }
            guard values[key] == nil else {
                throw problem(number, "`receivers.profiling.\(key)` appears twice", "keep one")
            }
            values[key] = (try rate(value, key: key, number: number), number)
        }

        /// The rate in `value`: plain decimal digits, then at most a comment.
        func rate(_ value: ArraySlice<UInt8>, key: String, number: Int) throws(Problem) -> Int {
            let text = withoutComment(value)
            let fix = "write a number from \(SamplingRate.range.lowerBound) to \(SamplingRate.range.upperBound) in plain digits, e.g. `\(key): \(SamplingRate.defaultSamplesPerSecond)`"
            guard !text.isEmpty else {
                throw problem(number, "`receivers.profiling.\(key)` has no value", fix)
            }
            let shown = String(decoding: text, as: UTF8.self)
            guard text.count <= 9, text.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  text.count == 1 || text.first != UInt8(ascii: "0"), let rate = Int(shown) else {
                throw problem(number, "`receivers.profiling.\(key)` must be a whole number, not `\(shown)`", fix)
            }
            if let reason = SamplingRate.problem(with: rate) {
                throw problem(number, "`receivers.profiling.\(key)`: \(reason)", fix)
            }
            return rate
        }

        /// The threshold in `value`, then at most a comment.
        func share(_ value: ArraySlice<UInt8>, number: Int) throws(Problem) -> Double {
            let text = withoutComment(value)
            do {
                return try SamplingRateReader.offCPUThreshold(plain: text)
            } catch {
                throw problem(number, "`receivers.profiling.\(SamplingRateReader.offCPUKey)` \(error.reason)", error.fix)
            }
        }

        func result() throws(Problem) -> Settings {
            let found = SamplingRateReader.keys.compactMap { key in values[key].map { (key, $0) } }
            if found.count == 2, found[0].1.rate != found[1].1.rate {
                throw problem(found[1].1.line, "`SamplesPerSecond: \(found[1].1.rate)` contradicts `samples_per_second: \(found[0].1.rate)`",
                              "keep only `samples_per_second`")
            }
            return Settings(samplesPerSecond: found.first?.1.rate, offCPUThreshold: threshold?.value)
        }

        /// Splits `key: value` with a plain key; refuses what is not one.
        func entry(_ content: ArraySlice<UInt8>, number: Int, at place: String) throws(Problem) -> (String, ArraySlice<UInt8>) {
            let fix = "write `\(place == "the top level" ? "" : "\(place).")key: value` with a plain key, one per line (block style)"
            guard let first = content.first, !Array("-?:,[]{}#&*!|>'\"%@`".utf8).contains(first) else {
                throw problem(number, "tandem-sampler reads only plain `key: value` lines at \(place), not `\(String(decoding: content.prefix(40), as: UTF8.self))`", fix)
            }
            var index = content.startIndex
            while index < content.endIndex {
                if content[index] == UInt8(ascii: ":"),
                   index + 1 == content.endIndex || content[index + 1] == UInt8(ascii: " ") {
                    var key = content[content.startIndex..<index]
                    while key.last == UInt8(ascii: " ") { key = key.dropLast() }
                    return (String(decoding: key, as: UTF8.self), content[(index + 1)...].drop { $0 == UInt8(ascii: " ") })
                }
                if content[index] == UInt8(ascii: "#"), content[index - 1] == UInt8(ascii: " ") { break }
                index += 1
            }
            throw problem(number, "no `key:` at \(place) in `\(String(decoding: content.prefix(40), as: UTF8.self))`", fix)
        }

        /// `receivers:` and `profiling:` open a block: nothing may follow them but a comment.
        func requireBlock(_ value: ArraySlice<UInt8>, key: String, number: Int) throws(Problem) {
            guard value.isEmpty || value.first == UInt8(ascii: "#") else {
                throw problem(number, "`\(key)` must be a block mapping (its keys on the lines below), not `\(String(decoding: value.prefix(40), as: UTF8.self))`",
                              "write `\(key.split(separator: ".").last ?? ""):` alone on its line, without flow style, anchor, alias or tag")
            }
        }

        /// A value the scanner skips may not continue on a less indented line: a flow
        /// collection or quoted scalar must close on its own line.
        func requireOneLine(_ value: ArraySlice<UInt8>, key: String, number: Int) throws(Problem) {
            guard let open = value.first, Array("[{\"'".utf8).contains(open) else { return }
            var depth = 0
            var quote: UInt8?
            var index = value.startIndex
            while index < value.endIndex {
                let byte = value[index]
                if let q = quote {
                    if q == UInt8(ascii: "\"") && byte == UInt8(ascii: "\\") {
                        index += 1
                    } else if byte == q {
                        if q == UInt8(ascii: "'"), index + 1 < value.endIndex, value[index + 1] == q {
                            index += 1
                        } else {
                            quote = nil
                            if depth == 0 { return }
                        }
                    }
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                    depth += 1
                } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                    depth -= 1
                    if depth <= 0 { return }
                }
                index += 1
            }
            throw problem(number, "the value of `\(key)` continues on the next line",
                          "write that flow collection or quoted string on one line")
        }

        /// `value` without a trailing `# comment` and the spaces before it.
        func withoutComment(_ value: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
            var end = value.endIndex
            var index = value.startIndex
            while index < value.endIndex {
                if value[index] == UInt8(ascii: "#"), index == value.startIndex || value[index - 1] == UInt8(ascii: " ") {
                    end = index
                    break
                }
                index += 1
            }
            var text = value[value.startIndex..<end]
            while text.last == UInt8(ascii: " ") { text = text.dropLast() }
            return text
        }
    }
}
