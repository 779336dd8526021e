#!/usr/bin/env bash
# Installs what the tests need, then runs every check and test of the workspace.
# The README's second command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need beyond the Rust toolchain: `kill` (procps), a C compiler for build
# scripts, a real SMTP server (Debian's python3-aiosmtpd, run by /usr/bin/python3),
# Prometheus with promtool (Debian's prometheus), and Python's venv for schemathesis.
need_packages=()
command -v kill >/dev/null 2>&1 || need_packages+=(procps)
command -v cc >/dev/null 2>&1 || need_packages+=(gcc)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need_packages+=(python3-aiosmtpd)
# A real Prometheus and promtool for the monitoring tests (tests/it/monitoring.rs).
command -v promtool >/dev/null 2>&1 || need_packages+=(prometheus)
# systemd's socket activation tool and unit checker for tests/it/restart.rs (Debian's systemd;
# nothing is started under it).
command -v systemd-socket-activate >/dev/null 2>&1 || need_packages+=(systemd)
# Python's venv (with pip) for scripts/schemathesis.sh, which installs schemathesis from PyPI.
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_packages+=(python3-venv)
if [ "${#need_packages[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
# The OpenAPI document as a fuzzing oracle: schemathesis against a real engine, per role.
bash scripts/schemathesis.sh
