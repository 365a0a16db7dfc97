#!/usr/bin/env bash
# cargo-deny over the workspace's graph: licenses, duplicate versions,
# sources (deny.toml says what is allowed and why). Installs cargo-deny
# (pinned) into target/tools when it is not on PATH: about 4 minutes of
# compiling on 2 idle cores. Advisories are not checked: their database
# comes from GitHub, which this machine cannot reach (deny.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.20.2
if command -v cargo-deny >/dev/null && cargo-deny --version | grep -q "$version"; then
    deny=cargo-deny
else
    tools="$(pwd)/target/tools"
    if ! "$tools/bin/cargo-deny" --version 2>/dev/null | grep -q "$version"; then
        echo "scripts/deny.sh: installing cargo-deny $version into $tools"
        cargo install -q cargo-deny --version "$version" --locked --root "$tools"
    fi
    deny="$tools/bin/cargo-deny"
fi
"$deny" check licenses bans sources
