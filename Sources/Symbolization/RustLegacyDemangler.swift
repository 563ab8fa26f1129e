/// Rust's legacy mangling: an Itanium-shaped nested name `_ZN<len><ident>...E` whose
/// last component is the hash `17h<16 hex digits>`, with punctuation escaped as
/// `$LT$`, `$GT$`, `$u20$`, ... and `::` inside a component written as `..`.
enum RustLegacyDemangler {
    /// The demangled path without the hash, or nil if `symbol` is not legacy Rust.
    static func demangle(_ symbol: String) -> String? {
        var bytes = Array(symbol.utf8)
        var index: Int
        if bytes.starts(with: Array("_ZN".utf8)) { index = 3 } else if bytes.starts(with: Array("__ZN".utf8)) { index = 4 } else { return nil }
        // LLVM appends `.llvm.<digits>` to symbols it made local during LTO.
        if let suffix = llvmSuffix(in: bytes) { bytes.removeSubrange(suffix...) }

        var components: [ArraySlice<UInt8>] = []
        while index < bytes.count, bytes[index] != UInt8(ascii: "E") {
            var length = 0
            guard isDigit(bytes[index]) else { return nil }
            while index < bytes.count, isDigit(bytes[index]) {
                length = length * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                guard length < bytes.count else { return nil }
                index += 1
            }
            guard length > 0, index + length <= bytes.count else { return nil }
            components.append(bytes[index..<index + length])
            index += length
        }
        // Exactly `E` must end the name (a trailing clone suffix such as `.cold` may follow).
        guard index < bytes.count, bytes[index] == UInt8(ascii: "E"),
              index + 1 == bytes.count || bytes[index + 1] == UInt8(ascii: "."),
              let hash = components.last, isHash(hash), components.count >= 2
        else { return nil }

        var output = ""
        for (position, component) in components.dropLast().enumerated() {
            if position > 0 { output += "::" }
            guard let decoded = decode(component) else { return nil }
            output += decoded
        }
        return output
    }

    /// Where `.llvm.` starts in `bytes`, if anywhere: a plain byte scan (the generic
    /// `firstRange(of:)` took 2-3 % of a replay that names many C++ symbols for the first time).
    private static func llvmSuffix(in bytes: [UInt8]) -> Int? {
        let marker: [UInt8] = Array(".llvm.".utf8)
        return bytes.withUnsafeBufferPointer { bytes in
            var start = 0
            while start + marker.count <= bytes.count {
                if bytes[start] == marker[0] {
                    var matched = 1
                    while matched < marker.count, bytes[start + matched] == marker[matched] { matched += 1 }
                    if matched == marker.count { return start }
                }
                start += 1
            }
            return nil
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// `h` followed by 16 hex digits.
    private static func isHash(_ component: ArraySlice<UInt8>) -> Bool {
        guard component.count == 17, component.first == UInt8(ascii: "h") else { return false }
        return component.dropFirst().allSatisfy { isDigit($0) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) }
    }

    private static let escapes: [String: String] = [
        "SP": "@", "BP": "*", "RF": "&", "LT": "<", "GT": ">", "LP": "(", "RP": ")", "C": ",",
    ]

    /// Decodes one path component's escapes.
    private static func decode(_ component: ArraySlice<UInt8>) -> String? {
        var output = ""
        var index = component.startIndex
        // A component that would start with `$` is written `_$`.
        if component.count > 1, component[index] == UInt8(ascii: "_"), component[index + 1] == UInt8(ascii: "$") {
            index += 1
        }
        while index < component.endIndex {
            let byte = component[index]
            if byte == UInt8(ascii: "$") {
                guard let close = component[(index + 1)...].firstIndex(of: UInt8(ascii: "$")) else { return nil }
                let code = String(decoding: component[(index + 1)..<close], as: UTF8.self)
                if let replacement = escapes[code] {
                    output += replacement
                } else if code.hasPrefix("u"), let scalarValue = UInt32(code.dropFirst(), radix: 16),
                          let scalar = Unicode.Scalar(scalarValue) {
                    output.unicodeScalars.append(scalar)
                } else {
                    return nil
                }
                index = close + 1
            } else if byte == UInt8(ascii: "."), index + 1 < component.endIndex, component[index + 1] == UInt8(ascii: ".") {
                output += "::"
                index += 2
            } else {
                output.unicodeScalars.append(Unicode.Scalar(byte))
                index += 1
            }
        }
        return output
    }
}
