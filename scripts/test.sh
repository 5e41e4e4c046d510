#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs and starts the real storage servers (Azurite,
# s3s-fs) on 127.0.0.1, checks formatting and lints, runs every test, checks what can be checked of
# the add-on image (hadolint; the static binary in an empty chroot), and stops the servers.
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
scripts/check-image.sh
# One plain closing line for whoever reads the end of the log.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$results"
rm -f "$results"
