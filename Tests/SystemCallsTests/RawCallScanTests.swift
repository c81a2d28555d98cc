#if canImport(Glibc)
import Glibc
#endif
import Testing
import SystemCalls

/// Keeps SystemCalls the one way to call the system: no file under Sources/ calls one of
/// these libc functions itself, except in SystemCalls (sockaddr-typed calls too: the
/// conversion of NetworkAddress's types lives there) and in NFTables (the netlink layer).
/// A finding names file:line, so the fix is to call (or add) the SystemCalls function.
@Suite struct RawCallScanTests {
    static let watched: Set<String> = [
        "read", "write", "pread", "pwrite", "recv", "recvfrom", "recvmsg", "recvmmsg",
        "send", "sendto", "sendmsg", "sendmmsg", "accept", "accept4", "poll", "ppoll", "select",
        "epoll_create1", "epoll_ctl", "epoll_wait", "clock_gettime", "gettimeofday",
        "pthread_create", "fcntl", "socket", "connect", "bind", "listen", "setsockopt",
        "getsockopt", "getsockname", "getpeername", "shutdown", "close", "open", "openat",
        "pipe", "pipe2", "dup", "dup2", "splice", "usleep", "nanosleep", "sleep", "fsync",
        "flock", "waitpid", "pthread_sigmask", "sigprocmask",
    ]
    /// Directories whose files may call any of them.
    static let allowed = ["Sources/SystemCalls/", "Sources/NFTables/"]
    static var root: String {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)   // Tests/SystemCallsTests/RawCallScanTests.swift
        return parts.joined(separator: "/")
    }

    @Test func noRawCallOutsideTheSyscallLayer() throws {
        let files = swiftFiles(under: Self.root + "/Sources")
        #expect(files.count > 50, "the scan found only \(files.count) files under \(Self.root)/Sources")
        var findings: [String] = []
        for path in files {
            let relative = String(path.dropFirst(Self.root.count + 1))
            if Self.allowed.contains(where: relative.hasPrefix) { continue }
            let fd = try Posix.open(path, O_RDONLY | O_CLOEXEC)
            defer { Posix.close(fd) }
            let text = String(decoding: try Posix.readAll(fd), as: UTF8.self)
            findings += Self.rawCalls(in: text)
                .map { "\(relative):\($0.line): \($0.name)(" }
        }
        #expect(findings.isEmpty, "raw libc calls outside SystemCalls:\n\(findings.joined(separator: "\n"))")
    }

    /// The scanner itself: what it must find and what it must leave alone.
    @Test func scannerFindsCallsAndIgnoresSwiftOnes() {
        let q = String(repeating: "\"", count: 3)   // a multi-line literal's delimiter
        let source = [
            "let n = read(fd, &b, 1)",
            "_ = Glibc.close(fd)",
            "x = y; poll(&fds, 1, -1)",
            "Posix.close(fd)            // a SystemCalls call",
            "engine.write(bytes)        // a method",
            "log(\"socket(AF_UNIX) failed\")",
            "// close(fd) in a comment",
            "close(reset: true)         // a Swift function with a label",
            "func open(_ path: String) {}",
            "open(path)                 // this file's own open",
            "func shutdown() {}",
            "shutdown()                 // and its own shutdown",
            "let write: (String) -> Void = { _ in }",
            "write(text)                // a closure property",
            "let m = recv(",
            "let help = " + q,
            "    relays with splice(2)",
            "    " + q,
            "_ = pipe(&fds)",
        ].joined(separator: "\n")
        let found = Self.rawCalls(in: source).map { "\($0.line):\($0.name)" }
        #expect(found == ["1:read", "2:close", "3:poll", "15:recv", "19:pipe"])
    }

    /// Calls of watched names: unqualified or `Glibc.`, not after a `.` otherwise, not with a
    /// labelled first argument (libc has no labels), not of a function the file declares
    /// with an unlabelled first parameter; comments and string literals are skipped.
    static func rawCalls(in text: String) -> [(line: Int, name: String)] {
        var inMultiline = false
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { raw -> [UInt8] in
            // A multi-line string literal (help texts): its lines are text, not code.
            let bytes = Array(raw.utf8)
            let line = String(decoding: bytes, as: UTF8.self)
            let delimiters = line.ranges(of: "\"\"\"").count
            defer { if delimiters % 2 == 1 { inMultiline.toggle() } }
            if inMultiline { return [] }
            if delimiters % 2 == 1, let open = line.firstRange(of: "\"\"\"") {
                return code(of: Array(line[..<open.lowerBound].utf8))
            }
            return code(of: bytes)
        }
        var ownFunctions: Set<String> = []
        for line in lines {
            let words = identifiers(in: line)
            for (index, (name, _, end)) in words.enumerated() where index > 0 {
                switch words[index - 1].0 {
                case "func": if firstArgumentIsLabelled(line, after: end) != true { ownFunctions.insert(name) }
                case "let", "var": ownFunctions.insert(name)   // a closure property called like a function
                default: break
                }
            }
        }
        var found: [(Int, String)] = []
        for (index, line) in lines.enumerated() {
            for (name, start, end) in identifiers(in: line) where watched.contains(name) {
                guard end < line.count, line[end] == UInt8(ascii: "(") else { continue }
                let qualifiedByGlibc = start >= 6 && String(decoding: line[(start - 6)..<start], as: UTF8.self) == "Glibc."
                if !qualifiedByGlibc {
                    if start > 0 && line[start - 1] == UInt8(ascii: ".") { continue }
                    if start >= 5 && String(decoding: line[(start - 5)..<start], as: UTF8.self) == "func " { continue }
                    if firstArgumentIsLabelled(line, after: end) == true { continue }
                    if firstArgumentIsLabelled(line, after: end) == nil && line[(end + 1)...].first { $0 != 32 } == UInt8(ascii: ")") { continue }   // no argument: no libc call of these
                    if ownFunctions.contains(name) { continue }
                }
                found.append((index + 1, name))
            }
        }
        return found
    }

    /// The line without its `//` comment and with string literals blanked.
    static func code(of line: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var inString = false
        var i = 0
        while i < line.count {
            let c = line[i]
            if inString {
                if c == UInt8(ascii: "\\") { i += 2; out.append(32); continue }
                if c == UInt8(ascii: "\"") { inString = false }
                out.append(32)
            } else {
                if c == UInt8(ascii: "\"") { inString = true; out.append(32) }
                else if c == UInt8(ascii: "/") && i + 1 < line.count && line[i + 1] == UInt8(ascii: "/") { break }
                else { out.append(c) }
            }
            i += 1
        }
        return out
    }

    static func identifiers(in line: [UInt8]) -> [(String, Int, Int)] {
        func isWord(_ c: UInt8) -> Bool { c == UInt8(ascii: "_") || (c >= 48 && c <= 57) || (c | 0x20 >= 97 && c | 0x20 <= 122) }
        var out: [(String, Int, Int)] = []
        var i = 0
        while i < line.count {
            if isWord(line[i]) {
                let start = i
                while i < line.count && isWord(line[i]) { i += 1 }
                out.append((String(decoding: line[start..<i], as: UTF8.self), start, i))
            } else { i += 1 }
        }
        return out
    }

    /// For `name(` ending at `end`: true if the first argument is `label:`, false if not, nil
    /// if there is no argument on this line.
    static func firstArgumentIsLabelled(_ line: [UInt8], after end: Int) -> Bool? {
        guard end < line.count, line[end] == UInt8(ascii: "(") else { return nil }
        let rest = line[(end + 1)...].drop { $0 == 32 }
        guard let first = rest.first, first != UInt8(ascii: ")") else { return nil }
        let word = rest.prefix { $0 == UInt8(ascii: "_") || ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) }
        if word.elementsEqual("_".utf8) { return false }
        let after = rest.dropFirst(word.count).drop { $0 == 32 }
        if !word.isEmpty, after.first == UInt8(ascii: ":") { return true }
        // `func f(_ x:`, `func f(label name:`: a second word before the colon.
        return false
    }

    func swiftFiles(under directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let path = directory + "/" + name
            if entry.pointee.d_type == UInt8(DT_DIR) { out += swiftFiles(under: path) }
            else if name.hasSuffix(".swift") { out.append(path) }
        }
        return out.sorted()
    }
}
