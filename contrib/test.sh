#!/usr/bin/env bash
# Runs every nftfwd test: unit tests, the relay's tests, and the kernel tests, which create
# their own network namespaces (and remove them) and so need root.
#   sudo bash contrib/test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
if [ "$(id -u)" != 0 ]; then
    echo "note: not root: the kernel tests (namespaces, nftables) will be reported as skipped" >&2
else
    install_packages
fi
find_swift
# NFTFWD_SAVE from the calling shell would make the nftfwd commands run in namespaces here
# also write the host's /etc/nftfwd (ip netns exec shares /etc). The tests drop it from every
# process they start as well (Tests/Support/Command.swift), for a plain `swift test`.
unset NFTFWD_SAVE
# Each phase's wall time goes in the closing summary, with the fuzzers' lines: CI shows the
# head and the tail of a long log, so what failed and what took the time must be at the end.
phases=()
phase_started=$SECONDS
phase_done() { phases+=("$1 $(( SECONDS - phase_started ))s"); phase_started=$SECONDS; }
# The tests too: run-suites.sh below runs the bundle this makes.
build --build-tests
phase_done build
# The package test installs the .deb; built here (a release build, about two minutes
# from scratch) so it does not compete with the timing-sensitive tests for the two cores.
if [ "$(id -u)" = 0 ]; then
    echo "==> building the Debian package"
    bash contrib/package-deb.sh >/dev/null
    phase_done package
fi
# A minute of the relay soak (mixed TCP and UDP through `nftfwd relay --restore-from` while
# mappings churn and the table is flushed, in namespaces it creates) on the debug build made
# above, and the fuzzers (20 s per target, two at a time), side by side: the soak checks bytes
# and errors, not speed, so sharing the cores costs it nothing but saves CI a minute. Both run
# before the tests, so their summary stays last; an unexpected soak error fails the run
# at once, a fuzzer crash after the suite has run, with a closing count of its own. The relay
# engine under ThreadSanitizer is not run here: it passes (contrib/sanitize.sh thread), but
# needs a second full build of the package and its tests (.build-tsan, over 7 minutes on 2
# cores), which would double the run.
soak_pid=
if [ "$(id -u)" = 0 ]; then
    echo "==> relay soak, 60 s (debug build), beside the fuzzers"
    soak_log="$(mktemp)"
    SOAK_SECONDS=60 NFTFWD="$(swift build --show-bin-path)/nftfwd" bash contrib/bench/soak.sh >"$soak_log" 2>&1 &
    soak_pid=$!
fi
fuzz_failed=0
fuzz_log="$(mktemp)"
echo "==> fuzzing (contrib/fuzz/run.sh 20)"
bash contrib/fuzz/run.sh 20 2>&1 | tee "$fuzz_log" || fuzz_failed=1
if [ -n "$soak_pid" ]; then
    soak_status=0
    wait "$soak_pid" || soak_status=$?
    cat "$soak_log"
    soak_line="$(grep -E '^soak' "$soak_log" | tail -n 1 || true)"
    rm -f "$soak_log"
    if [ "$soak_status" != 0 ]; then
        echo "nftfwd: the relay soak failed (above)" >&2
        exit 1
    fi
fi
phase_done "soak+fuzzing"
# The relay's tests start the nftfwd-proxy binary; swift build above made it. One process per
# kernel suite, four at a time (contrib/testing/run-suites.sh says why not one `swift test`):
# their tests mostly wait on namespaces, processes and sockets, and in one process Swift
# Testing runs two at a time on two cores.
test_status=0
bash contrib/testing/run-suites.sh "$(swift build --show-bin-path)/nftfwdPackageTests.xctest" || test_status=$?
phase_done tests
echo "==> summary: ${phases[*]}"
[ -n "${soak_line:-}" ] && echo "    $soak_line"
grep -E '^fuzz ' "$fuzz_log" | sed 's/^/    /' || true
rm -f "$fuzz_log"
if [ "$fuzz_failed" != 0 ]; then
    echo "fuzzing: 0 passed, 1 failed (a target crashed, or the fuzz build failed: the lines above)"
    exit 1
fi
exit "$test_status"
