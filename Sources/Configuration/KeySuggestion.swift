/// Finds the valid name closest to a misspelt one, for "did you mean" fixes.
/// The one rule for every configuration key and value, the exporters' included.
public enum KeySuggestion {
    /// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
    ///
    /// Distance is the optimal-string-alignment edit distance (a transposition
    /// counts 1), measured both on the raw names and on names folded to lower
    /// case without `_` / `-` (so `SamplesPerSecond` is close to `samples_per_second`).
    /// When no candidate is that close, a candidate that the word extends or
    /// abbreviates (`protobuf` for `proto`, `elastic` for `elasticsearch`) is the
    /// likely intent; both must have at least three letters after folding.
    public static func closest(to word: String, in candidates: [String]) -> String? {
        var best: (candidate: String, distance: Int)?
        let foldedWord = fold(word)
        for candidate in candidates {
            let distance = min(editDistance(Array(word.unicodeScalars), Array(candidate.unicodeScalars)),
                               editDistance(Array(foldedWord.unicodeScalars), Array(fold(candidate).unicodeScalars)))
            if best == nil || distance < best!.distance { best = (candidate, distance) }
        }
        guard let best else { return nil }
        let limit = max(2, min(word.count, best.candidate.count) / 3)
        if best.distance <= limit { return best.candidate }
        return closestByPrefix(to: foldedWord, in: candidates)
    }

    /// A fix text: "did you mean `x`?" when one candidate is close, else the list of valid names.
    public static func fix(for word: String, candidates: [String], noun: String = "keys") -> String {
        if let match = closest(to: word, in: candidates) { return "did you mean `\(match)`?" }
        if candidates.isEmpty { return "remove it" }
        return "valid \(noun): " + candidates.map { $0.isEmpty ? "`\"\"`" : "`\($0)`" }.joined(separator: ", ")
    }

    /// The candidate that `foldedWord` starts with or that starts with it, the one
    /// nearest in length when several do.
    private static func closestByPrefix(to foldedWord: String, in candidates: [String]) -> String? {
        let minimum = 3
        guard foldedWord.count >= minimum else { return nil }
        return candidates
            .map { (candidate: $0, folded: fold($0)) }
            .filter { $0.folded.count >= minimum && ($0.folded.hasPrefix(foldedWord) || foldedWord.hasPrefix($0.folded)) }
            .min { abs($0.folded.count - foldedWord.count) < abs($1.folded.count - foldedWord.count) }?
            .candidate
    }

    private static func fold(_ text: String) -> String {
        String(text.lowercased().unicodeScalars.filter { $0 != "_" && $0 != "-" })
    }

    /// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    value = min(value, previous2[j - 2] + 1)
                }
                current[j] = value
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
