#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs and starts the real servers (Azurite, s3s-fs,
# WebDAV, SFTP, SMB, Home Assistant Core) on 127.0.0.1, checks formatting and lints, runs every
# test, stops the servers, then builds the add-on image in a real Docker engine as the Supervisor
# builds it and runs it beside a Supervisor double with every access checked against the AppArmor
# profile, builds the aarch64 image by the release path and runs it the same way under emulation
# (scripts/image-test.sh), and runs the library's unit tests for aarch64 under qemu.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-servers.sh install
trap 'scripts/test-servers.sh stop' EXIT
scripts/test-servers.sh start
# shellcheck disable=SC1091
source target/test-servers/env

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
results=$(mktemp)
cargo test --locked --all-targets 2>&1 | tee "$results"
scripts/test-servers.sh stop
# Its log carries the aarch64 unit tests' results too.
scripts/image-test.sh 2>&1 | tee -a "$results"
# One plain closing line for whoever reads the end of the log.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$results"
rm -f "$results"
