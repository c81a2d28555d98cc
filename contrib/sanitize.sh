#!/usr/bin/env bash
# Runs the unit suites and the relay engine suite under ThreadSanitizer and AddressSanitizer,
# each sanitizer in its own build folder (.build-tsan, .build-asan), and prints what each cost.
# No root needed: these suites make no namespaces (the kernel tests are not among them).
#   bash contrib/sanitize.sh                  both sanitizers, every suite below
#   bash contrib/sanitize.sh thread           one sanitizer
#   NFTFWD_SANITIZE_SUITES="NFTRelayTests" bash contrib/sanitize.sh thread    (what CI runs)
# Exits 1 if a suite fails or a sanitizer reports anything (a report fails the test process).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"   # cds to the repository
find_swift
unset NFTFWD_SAVE
read -r -a suites <<< "${NFTFWD_SANITIZE_SUITES:-NFTablesTests PortForwardingTests HostChecksTests PublishedRelayTests NFTRelayTests}"
filter="$(printf '%s\\.|' "${suites[@]}")"; filter="^(${filter%|})"
sanitizers=("$@"); [ ${#sanitizers[@]} -gt 0 ] || sanitizers=(thread address)
# A report ends the process with a failure instead of scrolling by; halt_on_error keeps the
# first report readable. contrib/tsan.supp and contrib/lsan.supp hold the suppressions, each
# with its reason (TSan cannot see Synchronization.Mutex on Linux; LSan cannot see a pointer
# Swift tags with an enum case; XCTest's runner); ASan's memory errors suppress nothing.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:suppressions=$PWD/contrib/tsan.supp}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/contrib/lsan.supp}"
failed=0
for sanitizer in "${sanitizers[@]}"; do
    case "$sanitizer" in
        thread) scratch=.build-tsan ;;
        address) scratch=.build-asan ;;
        *) echo "usage: contrib/sanitize.sh [thread] [address]" >&2; exit 1 ;;
    esac
    mkdir -p "$scratch"
    log="$scratch/sanitize.log"
    start=$(date +%s)
    if ! swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" >"$log" 2>&1; then
        grep -E 'error:' "$log" | sort -u | head -n 20 >&2
        echo "sanitize $sanitizer: the build failed (log: $log)"
        failed=1; continue
    fi
    built=$(date +%s)
    status=0
    swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" --filter "$filter" >>"$log" 2>&1 || status=$?
    done_at=$(date +%s)
    summary=$(grep -E 'Test run with [0-9]+ tests? .*(passed|failed)' "$log" | tail -n 1 || true)
    if [ "$status" = 0 ]; then
        echo "sanitize $sanitizer: build $((built - start))s, tests $((done_at - built))s: ${summary:-passed}"
    else
        failed=1
        echo "sanitize $sanitizer: FAILED (status $status) after build $((built - start))s, tests $((done_at - built))s (log: $log)"
        grep -E 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY:|✘' "$log" | head -n 15 | sed 's/^/    /'
    fi
done
exit "$failed"
