// swift-tools-version: 6.0
import PackageDescription

// Targets, bottom to top (see ARCHITECTURE.md):
//   CNetfilter      system-library module over libnftnl + libmnl + the netfilter uapi headers
//   CLinux          compiled C shim for GNU-only syscalls Swift's Glibc module hides (splice, pipe2, accept4, setns, ...)
//   SystemErrno     one typed errno for every layer
//   NetworkAddress  the one address vocabulary: IPAddress, Subnet, AddressFamily, SocketAddress, HostPort (no dependencies)
//   SystemCalls     the one syscall layer: EINTR/EAGAIN handling, fds, whole-buffer I/O, poll, epoll,
//                   splice, sockets (accept4), the monotonic clock, thread spawning
//   NFTables        netlink/nftables layer: tables, chains, maps, elements, rules, batches, errors; knows nothing of ports
//   NFTablesFake    an in-memory NFTablesSession (the kernel's seam) for tests without root
//   PortForwarding  the domain: mappings, parsing, validation, compiling mappings into the nftfwd table
//   IptablesImport  `nftfwd import iptables`: iptables-save's nat rules as a state document
//   NFTRelay        userland relay engine (epoll + splice); no dependency on the CLI or on nftables
//   SavedState      the saved state file: atomic writes, the directory lock, default paths
//   PublishedRelay  `nftfwd relay`: serves the table's loopback-reachable mappings through NFTRelay;
//                   its logs (swift-log) and Prometheus metrics (swift-prometheus)
//   HostChecks      what `nftfwd doctor` checks and `add`/`ls` warn about: sysctls, other tables' forward chains, relay, targets
//   nftfwd          the CLI
//   ProxyCommandLine docker-proxy's Go-style flags, parsed into an NFTRelay listener
//   nftfwd-proxy    docker-proxy drop-in over NFTRelay
//   nftfwd-cni      CNI port-mapping plugin (portmap drop-in) over PortForwarding
//   nftfwd-fuzz     libFuzzer targets for every parser of untrusted input (contrib/fuzz/run.sh);
//                   without -DFUZZING a driver that replays input files, so it builds everywhere
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

// Linux only (netfilter, epoll, splice): no other platform is declared.
let package = Package(
    name: "nftfwd",
    products: [
        .executable(name: "nftfwd", targets: ["nftfwd"]),
        .executable(name: "nftfwd-proxy", targets: ["nftfwd-proxy"]),
        .executable(name: "nftfwd-cni", targets: ["nftfwd-cni"]),
        .library(name: "NFTables", targets: ["NFTables"]),
        .library(name: "PortForwarding", targets: ["PortForwarding"]),
        .library(name: "NFTRelay", targets: ["NFTRelay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The relay's logs (journald-friendly handler in PublishedRelay/RelayLog.swift).
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        // The relay's Prometheus endpoint (`nftfwd relay --metrics`).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CNetfilter",
            path: "Modules/CNetfilter",
            pkgConfig: "libnftnl",
            providers: [.apt(["libnftnl-dev", "libmnl-dev"])]
        ),
        .target(
            name: "CLinux",
            path: "Modules/CLinux",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .target(
            name: "SystemErrno",
            swiftSettings: strict
        ),
        // Leaf: addresses, subnets, socket addresses and the one strict [ADDR:]PORT grammar.
        .target(
            name: "NetworkAddress",
            swiftSettings: strict
        ),
        // No other target calls read/write/poll/accept/clock_gettime/pthread_create... itself
        // (RawCallScanTests keeps it so); NFTables' netlink calls are the other exception.
        .target(
            name: "SystemCalls",
            dependencies: ["CLinux", "NetworkAddress", "SystemErrno"],
            swiftSettings: strict
        ),
        .target(
            name: "NFTables",
            dependencies: ["CNetfilter", "SystemErrno", "NetworkAddress"],
            swiftSettings: strict
        ),
        // An in-memory NFTablesSession for tests (apply, generation ids, ERESTART, dump()).
        .target(
            name: "NFTablesFake",
            dependencies: ["NFTables", "SystemErrno"],
            swiftSettings: strict
        ),
        .target(
            name: "PortForwarding",
            dependencies: ["NFTables", "NetworkAddress", "SystemCalls"],
            swiftSettings: strict
        ),
        // `nftfwd import iptables`: iptables-save's nat rules into a state document.
        .target(
            name: "IptablesImport",
            dependencies: ["PortForwarding", "NetworkAddress"],
            swiftSettings: strict
        ),
        .target(
            name: "NFTRelay",
            dependencies: ["NetworkAddress", "CLinux", "SystemErrno", "SystemCalls"],
            swiftSettings: strict
        ),
        .target(
            name: "SavedState",
            dependencies: ["SystemCalls", "SystemErrno"],
            swiftSettings: strict
        ),
        .target(
            name: "RelayReport",
            dependencies: ["NetworkAddress", "PortForwarding", "NFTRelay", "SavedState", "SystemErrno", "SystemCalls"],
            swiftSettings: strict
        ),
        .target(
            name: "PublishedRelay",
            dependencies: [
                "NetworkAddress", "RelayReport", "NFTables", "PortForwarding", "NFTRelay", "SavedState", "SystemErrno", "SystemCalls",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "HostChecks",
            dependencies: ["NetworkAddress", "NFTables", "PortForwarding", "RelayReport", "NFTRelay", "SystemErrno", "SystemCalls"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "nftfwd",
            dependencies: [
                "NetworkAddress",
                "IptablesImport",
                "NFTables",
                "NFTRelay",
                "PortForwarding",
                "PublishedRelay",
                "SavedState",
                "HostChecks",
                "SystemCalls",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ProxyCommandLine",
            dependencies: ["NetworkAddress", "NFTRelay"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "nftfwd-proxy",
            // PortForwarding: NFTFWD_PROXY_PUBLISH=1 publishes the mapping in nftfwd's table.
            dependencies: ["NetworkAddress", "NFTRelay", "ProxyCommandLine", "PortForwarding", "RelayReport", "SavedState", "SystemCalls"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "nftfwd-cni",
            dependencies: ["NetworkAddress", "PortForwarding", "PublishedRelay", "NFTables", "SavedState", "SystemCalls"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "nftfwd-fuzz",
            dependencies: ["NetworkAddress", "PortForwarding", "IptablesImport", "NFTables", "ProxyCommandLine", "SystemCalls"],
            swiftSettings: strict
        ),
        .target(
            name: "TestSupport",
            dependencies: ["CLinux"],
            path: "Tests/Support",
            swiftSettings: strict
        ),
        .testTarget(name: "NFTablesTests", dependencies: ["NetworkAddress", "CNetfilter", "NFTables", "NFTablesFake"], swiftSettings: strict),
        // IptablesSaves: saved iptables-save output the import tests read from disk.
        .testTarget(name: "PortForwardingTests", dependencies: ["PortForwarding", "NetworkAddress", "IptablesImport", "NFTables", "NFTablesFake"], exclude: ["IptablesSaves", "WireGolden"], swiftSettings: strict),
        .testTarget(name: "KernelTests", dependencies: ["NetworkAddress", "TestSupport", "PortForwarding", "NFTables", "NFTablesFake", "PublishedRelay", "SavedState", "HostChecks", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        .testTarget(name: "PublishedRelayTests", dependencies: ["NetworkAddress", "PublishedRelay", "SavedState", "TestSupport", "NFTables", "NFTablesFake", "NFTRelay", "PortForwarding", .product(name: "Logging", package: "swift-log"), "SystemCalls"], swiftSettings: strict),
        .testTarget(name: "HostChecksTests", dependencies: ["NetworkAddress", "HostChecks", "NFTables", "NFTablesFake", "PortForwarding", "SystemErrno"], swiftSettings: strict),
        .testTarget(name: "NetworkAddressTests", dependencies: ["NetworkAddress"], swiftSettings: strict),
        .testTarget(name: "NFTRelayTests", dependencies: ["NetworkAddress", "NFTRelay", "TestSupport", "SystemCalls"], swiftSettings: strict),
        // Scans Sources/ for raw libc calls outside SystemCalls and NFTables (no root, no build products).
        .testTarget(name: "SystemCallsTests", dependencies: ["SystemCalls"], swiftSettings: strict),
        // The CLI's own code (no root): QuickAdd against the library's parse of the same words.
        .testTarget(name: "CLITests", dependencies: ["nftfwd", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),
    ]
)
