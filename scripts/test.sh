#!/usr/bin/env bash
# Installs what the tests need, then runs every check and test of the workspace.
# The README's second command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need beyond the Rust toolchain. Today: nothing but `kill` (procps) and a C
# compiler for build scripts; the list grows with Prometheus, an SMTP server and a browser.
need_packages=()
command -v kill >/dev/null 2>&1 || need_packages+=(procps)
command -v cc >/dev/null 2>&1 || need_packages+=(gcc)
if [ "${#need_packages[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
