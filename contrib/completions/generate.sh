#!/usr/bin/env bash
# Regenerates the shell completions from the nftfwd binary (swift-argument-parser writes
# them from the command definitions). Run after changing a command or option:
#   swift build && bash contrib/completions/generate.sh [path/to/nftfwd]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
nftfwd="${1:-../../.build/debug/nftfwd}"
for shell in bash zsh fish; do
    "$nftfwd" --generate-completion-script "$shell" >"nftfwd.$shell"
done
