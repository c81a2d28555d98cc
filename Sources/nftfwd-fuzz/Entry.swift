#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

// Built with -DFUZZING and -sanitize=fuzzer (contrib/fuzz/run.sh), main hands over to
// libFuzzer's driver, and NFTFWD_FUZZ_TARGET picks the parser (an environment variable, so
// libFuzzer's own argv and the child processes it starts stay as it expects). Built without
// (plain `swift build`), it runs files through a target, so the harness always compiles and a
// crash input can be replayed in a debug build: `nftfwd-fuzz TARGET FILE...`.
//
// main, not libFuzzer's main: SwiftPM links an executable target's entry point as `main`,
// so the harness calls LLVMFuzzerRunDriver (libFuzzer's documented way in) itself.

@main
struct FuzzMain {
    static func main() {
        #if FUZZING
        selected = chooseTarget(getenv("NFTFWD_FUZZ_TARGET").map { String(cString: $0) }, from: "NFTFWD_FUZZ_TARGET")
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(llvmFuzzerRunDriver(&argc, &argv) { data, size in
            selected!.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        })
        #else
        let arguments = Array(CommandLine.arguments.dropFirst())
        let target = chooseTarget(arguments.first, from: "the first argument (nftfwd-fuzz TARGET FILE...)")
        for path in arguments.dropFirst() { target.run(read(path)) }
        print("nftfwd-fuzz: \(target.rawValue): \(arguments.count - 1) input(s) ran")
        #endif
    }
}

#if FUZZING
nonisolated(unsafe) private var selected: FuzzTarget?

/// int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
@_silgen_name("LLVMFuzzerRunDriver")
private func llvmFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32
#endif

private func chooseTarget(_ name: String?, from source: String) -> FuzzTarget {
    guard let name, let target = FuzzTarget(rawValue: name) else {
        printError("nftfwd-fuzz: name a target in \(source): \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        exit(1)
    }
    return target
}

private func read(_ path: String) -> [UInt8] {
    guard let file = fopen(path, "rb") else {
        printError("nftfwd-fuzz: cannot open \(path)")
        exit(2)
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while case let n = fread(&chunk, 1, chunk.count, file), n > 0 { bytes += chunk[..<n] }
    return bytes
}

private func printError(_ line: String) {
    try? Posix.writeAll(2, line + "\n")
}
