/// Rust's v0 mangling (`_R...`, RFC 2603): paths, generic arguments, basic and
/// compound types, closures and shims, backreferences, simple const generics.
/// Output follows rustc's own display with hashes and crate disambiguators omitted
/// (`crate::module::function::<u32>`, `<Type as Trait>::method`). Anything this
/// decoder does not support (Punycode identifiers, structured constants, a mangling
/// version other than the first) makes it return nil, so the raw name is shown.
enum RustV0Demangler {
    static func demangle(_ symbol: String) -> String? {
        var bytes = Array(symbol.utf8)
        if bytes.starts(with: Array("__R".utf8)) { bytes.removeFirst(3) } else if bytes.starts(with: Array("_R".utf8)) { bytes.removeFirst(2) } else { return nil }
        guard let first = bytes.first, first >= UInt8(ascii: "A"), first <= UInt8(ascii: "Z") else { return nil }
        var parser = Parser(input: bytes)
        do {
            try parser.printPath(inValue: true)
            // An instantiating crate may follow; it is not shown.
            if parser.position < bytes.count, let next = parser.peek(), next >= UInt8(ascii: "A"), next <= UInt8(ascii: "Z") {
                parser.silent += 1
                try parser.printPath(inValue: false)
                parser.silent -= 1
            }
            // Anything left must be a vendor-specific suffix (`.llvm.123`, `$...`).
            if let next = parser.peek(), next != UInt8(ascii: "."), next != UInt8(ascii: "$") { return nil }
        } catch {
            return nil
        }
        return parser.output
    }

    struct Invalid: Error {}

    /// RFC 3492 Punycode, as v0 uses it for non-ASCII identifiers: the ASCII part,
    /// then `_` (instead of `-`) and the encoded insertions.
    enum Punycode {
        static func decode(_ bytes: ArraySlice<UInt8>) throws(Invalid) -> String {
            var output: [Unicode.Scalar] = []
            var encoded = bytes
            if let separator = bytes.lastIndex(of: UInt8(ascii: "_")) {
                output = bytes[bytes.startIndex..<separator].map { Unicode.Scalar($0) }
                encoded = bytes[(separator + 1)...]
            }
            guard !encoded.isEmpty else { throw Invalid() }
            let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700
            var n = 128
            var i = 0
            var bias = 72
            var position = encoded.startIndex
            while position < encoded.endIndex {
                let oldI = i
                var weight = 1
                var k = base
                while true {
                    guard position < encoded.endIndex else { throw Invalid() }
                    let byte = encoded[position]
                    position += 1
                    let digit: Int
                    switch byte {
                    case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = Int(byte - UInt8(ascii: "a"))
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(byte - UInt8(ascii: "0")) + 26
                    default: throw Invalid()
                    }
                    let (product, overflow1) = digit.multipliedReportingOverflow(by: weight)
                    let (sum, overflow2) = i.addingReportingOverflow(product)
                    guard !overflow1, !overflow2, sum < 0x11_0000 * 64 else { throw Invalid() }
                    i = sum
                    let threshold = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                    if digit < threshold { break }
                    weight *= base - threshold
                    k += base
                }
                // Adapt the bias.
                let count = output.count + 1
                var delta = oldI == 0 ? (i - oldI) / damp : (i - oldI) / 2
                delta += delta / count
                var shifts = 0
                while delta > ((base - tMin) * tMax) / 2 {
                    delta /= base - tMin
                    shifts += base
                }
                bias = shifts + ((base - tMin + 1) * delta) / (delta + skew)
                n += i / count
                i %= count
                guard let scalar = Unicode.Scalar(UInt32(clamping: n)) else { throw Invalid() }
                output.insert(scalar, at: i)
                i += 1
            }
            var text = ""
            text.unicodeScalars.append(contentsOf: output)
            return text
        }
    }

    struct Parser {
        let input: [UInt8]
        var position = 0
        var output = ""
        /// Nonzero while parsing something that is not displayed.
        var silent = 0
        var depth = 0
        var boundLifetimes = 0

        init(input: [UInt8]) { self.input = input }

        func peek() -> UInt8? { position < input.count ? input[position] : nil }

        mutating func next() throws(Invalid) -> UInt8 {
            guard position < input.count else { throw Invalid() }
            defer { position += 1 }
            return input[position]
        }

        mutating func eat(_ character: Character) -> Bool {
            guard let ascii = character.asciiValue, peek() == ascii else { return false }
            position += 1
            return true
        }

        mutating func print(_ text: String) throws(Invalid) {
            guard silent == 0 else { return }
            output += text
            // A hostile name with nested backreferences could expand exponentially.
            if output.utf8.count > 4096 { throw Invalid() }
        }

        mutating func enter() throws(Invalid) {
            depth += 1
            if depth > 200 { throw Invalid() }
        }

        // MARK: Numbers and identifiers

        /// `_` is 0; otherwise base-62 digits, then `_`, stand for the value plus one.
        mutating func base62() throws(Invalid) -> UInt64 {
            if eat("_") { return 0 }
            var value: UInt64 = 0
            while true {
                let byte = try next()
                if byte == UInt8(ascii: "_") { break }
                let digit: UInt64
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = UInt64(byte - UInt8(ascii: "a")) + 10
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): digit = UInt64(byte - UInt8(ascii: "A")) + 36
                default: throw Invalid()
                }
                let (times, overflow1) = value.multipliedReportingOverflow(by: 62)
                let (sum, overflow2) = times.addingReportingOverflow(digit)
                guard !overflow1, !overflow2 else { throw Invalid() }
                value = sum
            }
            guard value < UInt64.max else { throw Invalid() }
            return value + 1
        }

        /// An optional `s<base-62>` disambiguator: 0 when absent, else the number plus one.
        mutating func disambiguator() throws(Invalid) -> UInt64 {
            guard eat("s") else { return 0 }
            let value = try base62()
            guard value < UInt64.max else { throw Invalid() }
            return value + 1
        }

        mutating func decimal() throws(Invalid) -> Int {
            guard let first = peek(), first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { throw Invalid() }
            if first == UInt8(ascii: "0") { position += 1; return 0 }
            var value = 0
            while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                guard value <= input.count else { throw Invalid() }
                position += 1
            }
            return value
        }

        /// `["u"] <decimal> ["_"] <bytes>`; with `u` the bytes are Punycode.
        mutating func undisambiguatedIdentifier() throws(Invalid) -> String {
            let isPunycode = eat("u")
            let length = try decimal()
            _ = eat("_")
            guard position + length <= input.count else { throw Invalid() }
            defer { position += length }
            let bytes = input[position..<position + length]
            return isPunycode ? try Punycode.decode(bytes) : String(decoding: bytes, as: UTF8.self)
        }

        // MARK: Backreferences

        /// Parses `B<base-62>` and runs `body` at the referenced position.
        mutating func backref(_ body: (inout Parser) throws(Invalid) -> Void) throws(Invalid) {
            let start = position - 1
            let target = try base62()
            guard target < UInt64(start) else { throw Invalid() }
            let saved = position
            position = Int(target)
            try enter()
            try body(&self)
            depth -= 1
            position = saved
        }

        // MARK: Paths

        mutating func printPath(inValue: Bool) throws(Invalid) {
            try enter()
            defer { depth -= 1 }
            let tag = try next()
            switch tag {
            case UInt8(ascii: "C"):
                _ = try disambiguator()
                try print(try undisambiguatedIdentifier())
            case UInt8(ascii: "N"):
                let namespace = try next()
                guard (namespace >= UInt8(ascii: "a") && namespace <= UInt8(ascii: "z"))
                        || (namespace >= UInt8(ascii: "A") && namespace <= UInt8(ascii: "Z")) else { throw Invalid() }
                try printPath(inValue: inValue)
                let index = try disambiguator()
                let name = try undisambiguatedIdentifier()
                if namespace >= UInt8(ascii: "A") && namespace <= UInt8(ascii: "Z") {
                    // Special namespaces: closures, shims, and future ones by their letter.
                    let kind: String
                    switch namespace {
                    case UInt8(ascii: "C"): kind = "closure"
                    case UInt8(ascii: "S"): kind = "shim"
                    default: kind = String(UnicodeScalar(namespace))
                    }
                    try print("::{\(kind)\(name.isEmpty ? "" : ":\(name)")#\(index)}")
                } else {
                    try print("::\(name)")
                }
            case UInt8(ascii: "M"):
                _ = try disambiguator()
                silent += 1
                try printPath(inValue: false)
                silent -= 1
                try print("<")
                try printType()
                try print(">")
            case UInt8(ascii: "X"):
                _ = try disambiguator()
                silent += 1
                try printPath(inValue: false)
                silent -= 1
                try print("<")
                try printType()
                try print(" as ")
                try printPath(inValue: false)
                try print(">")
            case UInt8(ascii: "Y"):
                try print("<")
                try printType()
                try print(" as ")
                try printPath(inValue: false)
                try print(">")
            case UInt8(ascii: "I"):
                try printPath(inValue: inValue)
                try print(inValue ? "::<" : "<")
                try printGenericArguments()
                try print(">")
            case UInt8(ascii: "B"):
                try backref { (parser: inout Parser) throws(Invalid) in try parser.printPath(inValue: inValue) }
            default:
                throw Invalid()
            }
        }

        /// Generic arguments up to `E`, separated by ", ".
        mutating func printGenericArguments() throws(Invalid) {
            var count = 0
            while !eat("E") {
                if count > 0 { try print(", ") }
                count += 1
                if eat("L") {
                    try printLifetime(try base62())
                } else if eat("K") {
                    try printConst()
                } else {
                    try printType()
                }
            }
        }

        mutating func printLifetime(_ index: UInt64) throws(Invalid) {
            if index == 0 { try print("'_"); return }
            guard index <= UInt64(boundLifetimes) else { throw Invalid() }
            let depth = boundLifetimes - Int(index)
            if depth < 26 {
                try print("'" + String(UnicodeScalar(UInt8(ascii: "a") + UInt8(depth))))
            } else {
                try print("'_\(depth)")
            }
        }

        /// `G<base-62>` binds that many plus one lifetimes: `for<'a, 'b> `.
        mutating func printBinder() throws(Invalid) -> Int {
            guard eat("G") else { return 0 }
            let count = Int(try base62()) + 1
            guard count < 1000 else { throw Invalid() }
            try print("for<")
            for index in 0..<count {
                if index > 0 { try print(", ") }
                boundLifetimes += 1
                try printLifetime(1)
            }
            try print("> ")
            return count
        }

        // MARK: Types

        static let basicTypes: [UInt8: String] = [
            UInt8(ascii: "a"): "i8", UInt8(ascii: "b"): "bool", UInt8(ascii: "c"): "char",
            UInt8(ascii: "d"): "f64", UInt8(ascii: "e"): "str", UInt8(ascii: "f"): "f32",
            UInt8(ascii: "h"): "u8", UInt8(ascii: "i"): "isize", UInt8(ascii: "j"): "usize",
            UInt8(ascii: "l"): "i32", UInt8(ascii: "m"): "u32", UInt8(ascii: "n"): "i128",
            UInt8(ascii: "o"): "u128", UInt8(ascii: "s"): "i16", UInt8(ascii: "t"): "u16",
            UInt8(ascii: "u"): "()", UInt8(ascii: "v"): "...", UInt8(ascii: "x"): "i64",
            UInt8(ascii: "y"): "u64", UInt8(ascii: "z"): "!", UInt8(ascii: "p"): "_",
        ]

        mutating func printType() throws(Invalid) {
            try enter()
            defer { depth -= 1 }
            guard let tag = peek() else { throw Invalid() }
            if let basic = Self.basicTypes[tag] {
                position += 1
                try print(basic)
                return
            }
            switch tag {
            case UInt8(ascii: "R"), UInt8(ascii: "Q"):
                position += 1
                try print("&")
                if eat("L") {
                    let lifetime = try base62()
                    if lifetime != 0 {
                        try printLifetime(lifetime)
                        try print(" ")
                    }
                }
                if tag == UInt8(ascii: "Q") { try print("mut ") }
                try printType()
            case UInt8(ascii: "P"):
                position += 1
                try print("*const ")
                try printType()
            case UInt8(ascii: "O"):
                position += 1
                try print("*mut ")
                try printType()
            case UInt8(ascii: "A"):
                position += 1
                try print("[")
                try printType()
                try print("; ")
                try printConst()
                try print("]")
            case UInt8(ascii: "S"):
                position += 1
                try print("[")
                try printType()
                try print("]")
            case UInt8(ascii: "T"):
                position += 1
                try print("(")
                var count = 0
                while !eat("E") {
                    if count > 0 { try print(", ") }
                    try printType()
                    count += 1
                }
                if count == 1 { try print(",") }
                try print(")")
            case UInt8(ascii: "F"):
                position += 1
                let saved = boundLifetimes
                _ = try printBinder()
                if eat("U") { try print("unsafe ") }
                if eat("K") {
                    if eat("C") {
                        try print("extern \"C\" ")
                    } else {
                        let abi = String(try undisambiguatedIdentifier().map { $0 == "_" ? "-" : $0 })
                        try print("extern \"\(abi)\" ")
                    }
                }
                try print("fn(")
                var count = 0
                while !eat("E") {
                    if count > 0 { try print(", ") }
                    try printType()
                    count += 1
                }
                try print(")")
                if eat("u") {
                    // Returns `()`: not shown.
                } else {
                    try print(" -> ")
                    try printType()
                }
                boundLifetimes = saved
            case UInt8(ascii: "D"):
                position += 1
                try print("dyn ")
                let saved = boundLifetimes
                _ = try printBinder()
                var count = 0
                while !eat("E") {
                    if count > 0 { try print(" + ") }
                    try printDynTrait()
                    count += 1
                }
                boundLifetimes = saved
                guard eat("L") else { throw Invalid() }
                let lifetime = try base62()
                if lifetime != 0 {
                    try print(" + ")
                    try printLifetime(lifetime)
                }
            case UInt8(ascii: "B"):
                position += 1
                try backref { (parser: inout Parser) throws(Invalid) in try parser.printType() }
            default:
                try printPath(inValue: false)
            }
        }

        /// A trait path whose associated-type bindings go inside its generic brackets.
        mutating func printDynTrait() throws(Invalid) {
            var open = try printPathMaybeOpenGenerics()
            while eat("p") {
                try print(open ? ", " : "<")
                open = true
                try print(try undisambiguatedIdentifier())
                try print(" = ")
                try printType()
            }
            if open { try print(">") }
        }

        mutating func printPathMaybeOpenGenerics() throws(Invalid) -> Bool {
            if eat("B") {
                var open = false
                try backref { (parser: inout Parser) throws(Invalid) in open = try parser.printPathMaybeOpenGenerics() }
                return open
            }
            if eat("I") {
                try printPath(inValue: false)
                try print("<")
                var count = 0
                while !eat("E") {
                    if count > 0 { try print(", ") }
                    count += 1
                    if eat("L") { try printLifetime(try base62()) } else if eat("K") { try printConst() } else { try printType() }
                }
                return true
            }
            try printPath(inValue: false)
            return false
        }

        // MARK: Constants

        mutating func printConst() throws(Invalid) {
            try enter()
            defer { depth -= 1 }
            if eat("p") { try print("_"); return }
            if eat("B") {
                try backref { (parser: inout Parser) throws(Invalid) in try parser.printConst() }
                return
            }
            let type = try next()
            switch type {
            case UInt8(ascii: "a"), UInt8(ascii: "s"), UInt8(ascii: "l"), UInt8(ascii: "x"), UInt8(ascii: "n"),
                 UInt8(ascii: "i"), UInt8(ascii: "h"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "y"),
                 UInt8(ascii: "o"), UInt8(ascii: "j"):
                let negative = eat("n")
                let digits = try hexDigits()
                if let value = UInt64(digits.isEmpty ? "0" : digits, radix: 16) {
                    try print((negative ? "-" : "") + String(value))
                } else {
                    try print((negative ? "-" : "") + "0x" + digits)
                }
            case UInt8(ascii: "b"):
                switch try hexDigits() {
                case "0": try print("false")
                case "1": try print("true")
                default: throw Invalid()
                }
            case UInt8(ascii: "c"):
                guard let value = UInt32(try hexDigits(), radix: 16), let scalar = Unicode.Scalar(value) else { throw Invalid() }
                try print("'" + String(Character(scalar)).unicodeScalars.map { $0.escaped(asASCII: false) }.joined() + "'")
            default:
                // Structured constants (str, arrays, tuples, ADTs) are not supported.
                throw Invalid()
            }
        }

        /// Hex digits up to `_`.
        mutating func hexDigits() throws(Invalid) -> String {
            var digits = ""
            while true {
                let byte = try next()
                if byte == UInt8(ascii: "_") { return digits }
                guard (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
                else { throw Invalid() }
                digits.unicodeScalars.append(UnicodeScalar(byte))
            }
        }
    }
}
