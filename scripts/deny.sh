#!/usr/bin/env bash
# cargo-deny over the workspace's graph: licenses, duplicate versions,
# sources (deny.toml says what is allowed and why). Installs cargo-deny
# (pinned) with `cargo install` into cargo's own bin directory (where
# cargo-fuzz goes too) when that version is not on PATH: about 4 minutes
# of compiling on 2 idle cores, once a machine. Advisories are not
# checked: their database comes from GitHub, which this machine cannot
# reach (deny.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.20.2
bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if ! "$bin/cargo-deny" --version 2>/dev/null | grep -q "$version"; then
    echo "scripts/deny.sh: installing cargo-deny $version into $bin"
    start=$(date +%s)
    cargo install -q cargo-deny --version "$version" --locked
    echo "scripts/deny.sh: installed in $(( $(date +%s) - start )) s"
fi
"$bin/cargo-deny" check licenses bans sources
