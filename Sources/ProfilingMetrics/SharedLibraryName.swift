/// The `shlib_name` of a native leaf frame: what the regular expression
/// `(?:.*/)?(.+)\.so` captures in the mapping's file name, searched with
/// leftmost-first (Go / Perl) semantics. `/usr/lib/x86_64-linux-gnu/libc.so.6`
/// gives `libc`; a file without `.so` (the main executable) gives nothing.
///
/// Hand-written because it runs for every native leaf on a cache miss and a
/// general regex engine is slow; `SharedLibraryNameTests` checks it against
/// Swift's `Regex` on generated inputs.
public enum SharedLibraryName {
    /// The captured name, or `nil` when the expression does not match.
    public static func of(path: String) -> Substring? {
        let utf8 = path.utf8
        // `.` does not match a newline, so a match lies within one line; the
        // leftmost match starts on the first line that contains one.
        var lineStart = utf8.startIndex
        while lineStart <= utf8.endIndex {
            let lineEnd = utf8[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? utf8.endIndex
            if let range = capture(in: utf8[lineStart..<lineEnd]) {
                return path[range]
            }
            guard lineEnd < utf8.endIndex else { break }
            lineStart = utf8.index(after: lineEnd)
        }
        return nil
    }

    /// Within one line: the greedy optional `.*/` prefers the last `/` after
    /// which a capture exists, then earlier ones, then no prefix at all; the
    /// greedy `(.+)` then ends at the last `.so` that leaves it non-empty.
    private static func capture(in line: Substring.UTF8View) -> Range<String.Index>? {
        // Candidate starts of the capture: after each `/` (last first), then the line start.
        var starts: [String.Index] = []
        var index = line.startIndex
        while index < line.endIndex {
            if line[index] == UInt8(ascii: "/") { starts.append(line.index(after: index)) }
            index = line.index(after: index)
        }
        starts.reverse()
        starts.append(line.startIndex)
        for start in starts {
            if let end = lastSuffixStart(in: line[start...]) { return start..<end }
        }
        return nil
    }

    /// The start of the last `.so` in `text` that has at least one character before it.
    private static func lastSuffixStart(in text: Substring.UTF8View) -> String.Index? {
        guard text.count >= 4 else { return nil }
        var index = text.index(text.endIndex, offsetBy: -3)
        let first = text.index(after: text.startIndex)
        while index >= first {
            if text[index] == UInt8(ascii: "."),
               text[text.index(index, offsetBy: 1)] == UInt8(ascii: "s"),
               text[text.index(index, offsetBy: 2)] == UInt8(ascii: "o") {
                // `(.+)` must span whole characters: a UTF-8 continuation byte
                // cannot precede `.`, so `index` is a character boundary.
                return index
            }
            index = text.index(before: index)
        }
        return nil
    }
}
