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
build
# The relay's tests start the nftfwd-proxy binary; swift build above made it.
exec swift test 2>&1
