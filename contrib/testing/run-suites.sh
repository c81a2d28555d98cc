#!/usr/bin/env bash
# Runs the test bundle one suite per process, TEST_JOBS processes at a time (default 4), and
# prints each suite's output whole when it ends, then a summary: one line per suite, slowest
# first, the failures, and a check that every listed test ran.
#   bash contrib/testing/run-suites.sh .build/debug/nftfwdPackageTests.xctest [REGEX]
# REGEX, if given, picks suites by name (e.g. 'Kernel', 'TakeoverTests|NFTRelay').
#
# Why not one `swift test`: Swift Testing runs synchronous test functions on the Swift
# concurrency pool, which is one thread per core, so on a 2-core machine two kernel tests run
# at a time however long they wait on namespaces, processes and sockets (measured: eight
# tests that each sleep 1 s take 4 s). Separate processes each bring their own pool. Two
# `swift test` runs do not help either: SwiftPM's build lock serialises them.
#
# A kernel suite is one process (their tests wait, and a suite is the unit `.serialized`
# promises order within); every other test target is one process (they are quick). Suites run
# longest first by the list below, measured on a 2-core machine; a suite that is not in it
# starts after those in it, so a new suite runs however it is named.
set -uo pipefail
bundle="$1"
only="${2:-}"
jobs="${TEST_JOBS:-4}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

longest_first=(
    KernelTests.RelayScaleTests
    KernelTests.ScaleTests
    KernelTests.PackageTests
    KernelTests.ConcurrencyTests
    KernelTests.BridgeTests
    KernelTests.DockerEngineTests
    KernelTests.AllowListTests
    KernelTests.ProxyProtocolRelayTests
    NFTRelayTests
    KernelTests.TakeoverTests
    KernelTests.CNITests
    KernelTests.AllowListPrefixTests
    KernelTests.RelayLoadTests
    KernelTests.PodmanTests
    KernelTests.ConntrackTests
    KernelTests.SystemdReloadTests
    KernelTests.UDPRedirectTests
    KernelTests.RestoreRelayTests
    KernelTests.DoctorTests
)

"$bundle" --testing-library swift-testing --list-tests >"$work/list" 2>/dev/null || {
    echo "run-suites: $bundle --list-tests failed" >&2
    exit 1
}
# Group names: Module.Type for kernel suites, the module for every other target.
awk -F/ '{ split($1, p, "."); print (p[1] == "KernelTests" ? p[1] "." p[2] : p[1]), $0 }' "$work/list" |
    { if [ -n "$only" ]; then grep -E -- "^[^ ]*($only)[^ ]* " || true; else cat; fi } >"$work/tests"
listed=$(wc -l <"$work/tests")
cut -d' ' -f1 "$work/tests" | sort -u >"$work/groups"
{
    for g in "${longest_first[@]}"; do grep -qx -- "$g" "$work/groups" && echo "$g"; done
    grep -vxF -f <(printf '%s\n' "${longest_first[@]}") "$work/groups"
} >"$work/order"

# One group: its own process, its output to a file, printed whole under a lock when it ends.
run_group() {
    local group="$1" work="$2" bundle="$3"
    local log="$work/$group.log" start=$SECONDS status=0
    local filter="^${group//./\\.}[./]"
    local args=(--testing-library swift-testing --filter "$filter")
    "$bundle" "${args[@]}" >"$log" 2>&1 || status=$?
    local took=$(( SECONDS - start ))
    local ran
    ran=$(grep -aE 'Test run with [0-9]+ test' "$log" | tail -n 1 | sed -E 's/.*Test run with ([0-9]+) test.*/\1/')
    echo "$group ${took}s status=$status ran=${ran:-0}" >"$work/$group.result"
    {
        flock 9
        echo "==> suite $group (${took}s, exit $status)"
        cat "$log"
    } 9>"$work/print.lock"
}
export -f run_group

started=$SECONDS
xargs -a "$work/order" -d '\n' -P "$jobs" -I{} bash -c 'run_group "$@"' _ {} "$work" "$bundle"
took=$(( SECONDS - started ))

failed=0
ran_total=0
echo "==> suites, slowest first ($jobs at a time, ${took}s in all)"
for r in "$work"/*.result; do cat "$r"; done | sort -k2 -rn -t' ' | while read -r g t s n; do
    printf '    %-40s %5s  %s  %s tests\n' "$g" "$t" "$s" "${n#ran=}"
done
for r in "$work"/*.result; do
    read -r g _ s n <"$r"
    ran_total=$(( ran_total + ${n#ran=} ))
    if [ "$s" != status=0 ]; then
        failed=1
        echo "FAILED: $g ($s)"
        grep -aE '✘|error:|Fatal error|Crash' "$work/$g.log" | head -n 20 | sed 's/^/    /'
    fi
done
groups=$(wc -l <"$work/order")
results=$(ls "$work"/*.result 2>/dev/null | wc -l)
if [ "$results" != "$groups" ]; then
    echo "run-suites: $results of $groups suites reported a result" >&2
    failed=1
fi
if [ "$ran_total" != "$listed" ]; then
    echo "run-suites: $ran_total tests ran, $listed are listed" >&2
    failed=1
fi
echo "==> $ran_total of $listed tests ran in $groups processes; $([ $failed = 0 ] && echo 'all passed' || echo 'FAILURES above')"
exit $failed
