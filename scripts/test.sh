#!/usr/bin/env bash
# Installs what the tests need, then runs every check and test of the workspace.
# The README's second command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need beyond the Rust toolchain: `kill` (procps), a C compiler for build
# scripts, a real SMTP server (Debian's python3-aiosmtpd, run by /usr/bin/python3),
# Prometheus with promtool (Debian's prometheus), Python's venv for schemathesis, and a real
# browser with its WebDriver (Debian's chromium and chromium-driver) and axe-core (npm) for
# the browser tests.
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
# Headless Chromium driven over WebDriver by the browser tests (tests/it/support/browser.rs
# starts /usr/bin/chromedriver with /usr/bin/chromium), and npm for axe-core below.
[ -x /usr/bin/chromium ] || need_packages+=(chromium)
[ -x /usr/bin/chromedriver ] || need_packages+=(chromium-driver)
command -v npm >/dev/null 2>&1 || need_packages+=(npm)
if [ "${#need_packages[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}"
fi

# axe-core, the accessibility checker the browser tests inject into every page, as pinned in
# tests/browser/package-lock.json (into tests/browser/node_modules, which git ignores).
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
# The OpenAPI document as a fuzzing oracle: schemathesis against a real engine, per role.
bash scripts/schemathesis.sh
