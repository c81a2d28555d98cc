#!/usr/bin/env bash
# Installs what nftfwd needs to build and test on Debian 12, then builds it.
# Sourced by contrib/demo.sh and contrib/test.sh; safe to run again (installs only what is missing).
set -euo pipefail

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "nftfwd: $1 needs root (network namespaces, nftables): run it with sudo" >&2
        exit 2
    fi
}

install_packages() {
    # command/file each package provides, so a present tool is not reinstalled.
    local missing=()
    [ -f /usr/include/libnftnl/table.h ] || missing+=(libnftnl-dev)
    [ -f /usr/include/libmnl/libmnl.h ] || missing+=(libmnl-dev)
    command -v nft >/dev/null || missing+=(nftables)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v python3 >/dev/null || missing+=(python3)
    command -v curl >/dev/null || missing+=(curl)
    command -v setpriv >/dev/null || missing+=(util-linux)
    command -v strace >/dev/null || missing+=(strace)     # the save-failure tests inject fsync errors
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    command -v gcc >/dev/null || missing+=(gcc libc6-dev)
    command -v systemd-analyze >/dev/null || missing+=(systemd)   # the units' test verifies them
    # iptables-nft and iptables-legacy: the import tests save real rules with both.
    command -v iptables-legacy-save >/dev/null && command -v iptables-nft-save >/dev/null || missing+=(iptables)
    command -v dpkg-shlibdeps >/dev/null || missing+=(dpkg-dev)       # contrib/package-deb.sh
    command -v objdump >/dev/null || missing+=(binutils)
    # The CNI tests chain nftfwd-cni after Debian's reference plugins, and beside portmap.
    [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
    command -v podman >/dev/null || missing+=(podman)   # the podman test runs nftfwd-cni under a real runtime
    command -v runc >/dev/null || missing+=(runc)       # podman's runtime there (crun refuses hybrid cgroups)
    command -v nginx >/dev/null || missing+=(nginx)     # a real PROXY protocol consumer behind the relay
    if [ ${#missing[@]} -gt 0 ]; then
        echo "==> installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # nginx (and podman's units) would start services on the host at install: the tests run
        # their own instances in namespaces, so starting is refused for this install only.
        local held=
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && held=1
        fi
        local status=0
        apt-get install -y -qq "${missing[@]}" >/dev/null || status=$?
        [ -z "$held" ] || rm -f /usr/sbin/policy-rc.d
        [ "$status" = 0 ] || { echo "setup: apt-get install ${missing[*]} failed" >&2; return "$status"; }
    fi
}

find_swift() {
    if ! command -v swift >/dev/null; then
        for dir in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
            [ -x "$dir/swift" ] && export PATH="$dir:$PATH" && break
        done
    fi
    if ! command -v swift >/dev/null; then
        echo "nftfwd: no Swift toolchain found (swift 6 is needed: https://www.swift.org/install/linux/)" >&2
        exit 2
    fi
}

build() {
    echo "==> building nftfwd ($(swift --version 2>/dev/null | head -n 1))"
    swift build "$@" 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]|^Building for|^Write |^Compiling|^Emitting' || true
    test "${PIPESTATUS[0]}" = 0
}

# Release build with the Swift runtime linked in: each nftfwd call is a short process, and
# loading the shared Swift libraries was half its run time (6.0 ms vs 3.2 ms for --version).
# Linked by the toolchain's lld with packed relative relocations (DT_RELR, glibc 2.36+): the
# executable's ~44,000 relative relocations shrink from 24-byte RELA entries the loader reads
# one by one to a bitmap of a few KB (gold cannot write RELR). It stays PIE: ASLR is kept.
# libstdc++ (the Swift runtime's C++ half) is linked in too: loading libstdc++.so.6 and
# binding its ~4,300 symbol relocations was most of the loader's work (callgrind, --version:
# 10.5 million instructions with it, 8.7 million without). The toolchain's link line asks
# for -lstdc++ itself, so a folder holding only libstdc++.a, searched first (swiftc -L comes
# before GCC's folders), makes it the static one. libgcc_s stays shared (unwinding).
# It lives in its own build folder so the test build (debug, dynamic) is not redone.
RELEASE_SCRATCH=.build-release
build_release() { # products...
    local archive cxx="$PWD/$RELEASE_SCRATCH/static-c++"
    archive="$(gcc -print-file-name=libstdc++.a)"
    [ -f "$archive" ] || { echo "setup: no static libstdc++ (apt-get install libstdc++-12-dev)" >&2; return 2; }
    mkdir -p "$cxx" && ln -sf "$archive" "$cxx/libstdc++.a"
    local RELEASE_FLAGS=(-c release --static-swift-stdlib --disable-local-rpath --scratch-path "$RELEASE_SCRATCH"
                         -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xswiftc -L -Xswiftc "$cxx"
                         -Xlinker --version-script="$PWD/contrib/build/executable-exports.map")
    for product in "$@"; do
        build "${RELEASE_FLAGS[@]}" --product "$product"
    done
    RELEASE_BIN="$(swift build "${RELEASE_FLAGS[@]}" --show-bin-path)"
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
