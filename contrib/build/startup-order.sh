#!/usr/bin/env bash
# Regenerates contrib/build/startup-order.txt, the functions a short nftfwd command runs (add,
# add again, rm, ls), which build_release hands to lld (--symbol-ordering-file) so that they
# lie together: a command then faults in fewer pages of the 35 MB binary (measured 2026-12-04:
# 385 -> 345 page faults and about 10% of an `add`'s time). A stale list only costs speed:
# names the binary no longer has are skipped, functions missing from it are placed as before.
#
# Run as root after changes to the commands' paths:   bash contrib/build/startup-order.sh
# (SwiftPM does not see the list change: remove .build-release/release/nftfwd to relink.)
# (valgrind's callgrind counts which functions ran; everything happens in a namespace of its own.)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"
need_root "the start-up order"
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
find_swift
build_release nftfwd
work=$(mktemp -d) ns="nftfwd-order-$$"
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"' EXIT
# callgrind needs the symbol table, not the DWARF 5 it cannot read.
cp "$RELEASE_BIN/nftfwd" "$work/nftfwd"; strip --strip-debug "$work/nftfwd"
ip netns add "$ns"; ip -n "$ns" link set lo up
for args in "add 7000 198.18.2.2:80" "add 7001 198.18.2.2:80" "rm 7001" "ls"; do
    # shellcheck disable=SC2086
    ip netns exec "$ns" valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/cg.%p" "$work/nftfwd" $args >/dev/null 2>&1
done
nm --defined-only "$work/nftfwd" | awk '$2 ~ /^[tTwW]$/ {print $3}' | sort -u > "$work/text"
cat "$work"/cg.* | sed -nE 's/^c?fn=\([0-9]+\) //p' | awk '!seen[$0]++' | grep -Fxf "$work/text" > "$work/order"
mv "$work/order" contrib/build/startup-order.txt
echo "contrib/build/startup-order.txt: $(wc -l < contrib/build/startup-order.txt) functions"
