/// Text nftfwd did not write itself (names and comments read from the kernel, lines of files,
/// arguments) made safe to print on a terminal or in a log.
///
/// A character is unsafe when it is a control (C0 0x00-0x1f, DEL, C1 U+0080-U+009F), a format
/// character (bidi overrides and isolates such as U+202E, U+200E/U+200F, U+061C, zero-width
/// U+200B-U+200D, U+FEFF, ...) or a line or paragraph separator (U+2028, U+2029): general
/// categories Cc, Cf, Zl and Zp. These can move the cursor, recolour or rewrite the screen,
/// reorder what a reader sees, or start what looks like a new log line. Every other character,
/// ASCII or not, is printable and left as it is.
public enum Untrusted {
    /// The strict form, for a value quoted inside a message or a table cell: unsafe characters
    /// become `\n`, `\t`, `\r`, `\x1b` (other ASCII controls and DEL) or `\u{202e}` (the rest),
    /// and a backslash becomes `\\`, so the printed text tells an escape from the same
    /// characters typed literally. Apply it once, where the value enters the message.
    public static func escape(_ text: String) -> String {
        guard needsWork(text, backslash: true, newline: true) else { return text }
        return rewrite(text, backslash: true, newline: true)
    }

    /// The safety net for whole lines at the point they are written (a log line, an error
    /// line): unsafe characters are escaped as by `escape`, newlines too unless
    /// `keepingNewlines`, but backslashes are left alone, so text already escaped by `escape`
    /// passes unchanged and is never escaped twice.
    public static func neutralize(_ text: String, keepingNewlines: Bool = false) -> String {
        guard needsWork(text, backslash: false, newline: !keepingNewlines) else { return text }
        return rewrite(text, backslash: false, newline: !keepingNewlines)
    }

    /// Whether `scalar` is refused in text nftfwd stores (comments) and escaped when printed.
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x20 || v == 0x7f { return true }
        if v < 0x80 { return false }
        if v <= 0x9f { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// The first unsafe character of `text` and its position (1-based, in characters as
    /// Unicode scalars), for messages that refuse it.
    public static func firstUnsafe(in text: String) -> (scalar: Unicode.Scalar, position: Int)? {
        for (i, s) in text.unicodeScalars.enumerated() where isUnsafe(s) { return (s, i + 1) }
        return nil
    }

    /// `a control character`, ...: what kind of unsafe character `scalar` is, for messages.
    public static func kind(_ scalar: Unicode.Scalar) -> String {
        if scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) { return "a control character" }
        switch scalar.properties.generalCategory {
        case .lineSeparator, .paragraphSeparator: return "a line separator"
        default: return "an invisible formatting character (bidi or zero-width)"
        }
    }

    /// `U+001B`, `U+202E`: how a refusing message names a character.
    public static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// The escape of one unsafe scalar (or of a backslash).
    static func escaped(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\\": return "\\\\"
        case "\n": return "\\n"
        case "\t": return "\\t"
        case "\r": return "\\r"
        default:
            let hex = String(scalar.value, radix: 16)
            if scalar.value < 0x80 { return "\\x" + (hex.count == 1 ? "0" : "") + hex }
            return "\\u{" + hex + "}"
        }
    }

    /// Fast path: printable ASCII needs no look-up, and most text is nothing else.
    private static func needsWork(_ text: String, backslash: Bool, newline: Bool) -> Bool {
        for b in text.utf8 {
            if b >= 0x20 && b < 0x7f && (b != UInt8(ascii: "\\") || !backslash) { continue }
            if b == UInt8(ascii: "\n") && !newline { continue }
            return true   // a control, a backslash, or a non-ASCII byte: look closer
        }
        return false
    }

    private static func rewrite(_ text: String, backslash: Bool, newline: Bool) -> String {
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if (s == "\\" && backslash) || (isUnsafe(s) && (s != "\n" || newline)) {
                out.append(contentsOf: escaped(s).unicodeScalars)
            } else {
                out.append(s)
            }
        }
        return String(out)
    }
}

extension String {
    /// `Untrusted.escape(self)`: for a value quoted in a message or a table cell.
    public var escapedForTerminal: String { Untrusted.escape(self) }
}
