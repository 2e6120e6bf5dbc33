// Python's str methods over Unicode scalars (code points), as Jinja runs them. Swift's String
// compares and searches by grapheme clusters and canonical equivalence ("\r\n" is one Character),
// which would not give Python's results; these work on `unicodeScalars` throughout.

enum PythonStrings {
    /// Python's `str.isspace()` per character: Unicode White_Space plus the ASCII separators
    /// 0x1C–0x1F, which Python also counts.
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace || (0x1C...0x1F).contains(c.value)
    }

    static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// `s.strip(chars)` / `lstrip` / `rstrip`: whitespace, or any of `chars`.
    static func strip(_ s: String, chars: String?, leading: Bool = true, trailing: Bool = true) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        func strippable(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c) } ?? isSpace(c) }
        let a = Array(s.unicodeScalars)
        var lo = 0, hi = a.count
        if leading { while lo < hi, strippable(a[lo]) { lo += 1 } }
        if trailing { while hi > lo, strippable(a[hi - 1]) { hi -= 1 } }
        return string(a[lo..<hi])
    }

    /// Index (in scalars) of the first occurrence of `needle` at or after `from`, as `str.find`.
    static func find(_ needle: String, in s: String, from: Int = 0) -> Int? {
        let a = Array(s.unicodeScalars), n = Array(needle.unicodeScalars)
        guard n.count <= a.count else { return nil }
        var i = max(0, from)
        while i + n.count <= a.count {
            if a[i..<(i + n.count)].elementsEqual(n) { return i }
            i += 1
        }
        return nil
    }

    static func count(_ needle: String, in s: String) -> Int {
        let n = needle.unicodeScalars.count
        if n == 0 { return s.unicodeScalars.count + 1 }
        var total = 0, i = 0
        while let j = find(needle, in: s, from: i) { total += 1; i = j + n }
        return total
    }

    static func replace(_ s: String, _ old: String, _ new: String, count limit: Int = -1) -> String {
        let a = Array(s.unicodeScalars), o = Array(old.unicodeScalars)
        var out = String.UnicodeScalarView()
        var done = 0
        if o.isEmpty {
            // Python inserts `new` between every character and at both ends.
            for c in a {
                if limit < 0 || done < limit { out.append(contentsOf: new.unicodeScalars); done += 1 }
                out.append(c)
            }
            if limit < 0 || done < limit { out.append(contentsOf: new.unicodeScalars) }
            return String(out)
        }
        var i = 0
        while i < a.count {
            if (limit < 0 || done < limit), i + o.count <= a.count, a[i..<(i + o.count)].elementsEqual(o) {
                out.append(contentsOf: new.unicodeScalars)
                i += o.count
                done += 1
            } else {
                out.append(a[i])
                i += 1
            }
        }
        return String(out)
    }

    /// `s.split(sep, maxsplit)`; without `sep`, runs of whitespace split and ends are dropped.
    static func split(_ s: String, separator: String?, maxSplit: Int = -1) -> [String] {
        let a = Array(s.unicodeScalars)
        var parts: [String] = []
        guard let separator else {
            var i = 0
            while i < a.count {
                while i < a.count, isSpace(a[i]) { i += 1 }
                guard i < a.count else { break }
                if maxSplit >= 0 && parts.count == maxSplit {
                    var end = a.count
                    while end > i, isSpace(a[end - 1]) { end -= 1 }
                    parts.append(string(a[i..<end]))
                    break
                }
                let start = i
                while i < a.count, !isSpace(a[i]) { i += 1 }
                parts.append(string(a[start..<i]))
            }
            return parts
        }
        let sep = Array(separator.unicodeScalars)
        var start = 0, i = 0
        while i + sep.count <= a.count {
            if (maxSplit < 0 || parts.count < maxSplit), a[i..<(i + sep.count)].elementsEqual(sep) {
                parts.append(string(a[start..<i]))
                i += sep.count
                start = i
            } else { i += 1 }
        }
        parts.append(string(a[start..<a.count]))
        return parts
    }

    static func startsWith(_ s: String, _ prefix: String) -> Bool {
        s.unicodeScalars.starts(with: prefix.unicodeScalars)
    }

    static func endsWith(_ s: String, _ suffix: String) -> Bool {
        s.unicodeScalars.reversed().starts(with: suffix.unicodeScalars.reversed())
    }

    /// `str.title()`: a letter after a non-letter is upper-cased, the others lower-cased.
    static func title(_ s: String) -> String {
        var out = ""
        var previousIsLetter = false
        for c in s.unicodeScalars {
            let isLetter = c.properties.isAlphabetic
            out += isLetter ? (previousIsLetter ? String(c).lowercased() : String(c).uppercased()) : String(c)
            previousIsLetter = isLetter
        }
        return out
    }

    /// `str.capitalize()`: the first character upper-cased, the rest lower-cased.
    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        return String(first).uppercased() + string(Array(s.unicodeScalars).dropFirst()[...]).lowercased()
    }
}
