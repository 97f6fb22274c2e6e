#!/usr/bin/env bash
# Installs what the tests need (Debian packages, as root or through sudo) and runs every test.
# The end-to-end tests start the real binaries; the sweep tests build the 198.18.0.0/15 test net
# of ../shared/testnet in network namespaces (root only).
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package
declare -A NEED=(
  [ip]=iproute2 [nft]=nftables [python3]=python3 [curl]=curl [dpkg-query]=dpkg
  [fping]=fping [snmpd]=snmpd [sqlite3]=sqlite3
  # packaging: MSI, Windows cross-linker, .deb staging (build-windows.sh adds Debian's rust)
  [wixl]=wixl [msiinfo]=msitools [x86_64-w64-mingw32-gcc]=mingw-w64 [objcopy]=binutils
  [dpkg-deb]=dpkg [systemd-analyze]=systemd [wine]=wine
  # web UI browser tests (tests/tests/ui.rs): headless Chromium driven through WebDriver
  [chromium]=chromium [chromedriver]=chromium-driver
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${NEED[$cmd]}")
done
# PostgreSQL server programs for the PARC_TEST_POSTGRES=1 run below (the tests start a private
# server of their own; Debian installs initdb off PATH).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "==> installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# SNMP fixture simulator for tests/tests/snmp_fixtures.rs (pysmi: snmpsim imports it without declaring it).
if python3 -c 'import snmpsim, pysmi' 2>/dev/null || python3 -m pip install -q snmpsim pysmi 2>/dev/null || python3 -m pip install -q --break-system-packages snmpsim pysmi; then export PARC_REQUIRE_SNMPSIM=1; else echo "==> snmpsim could not be installed: the SNMP fixture test will skip"; fi

# CI builds once from scratch: incremental state would only add gigabytes to a disk that may be small.
export CARGO_INCREMENTAL=0
echo "==> disk before the build: $(df -h --output=avail . | tail -1 | tr -d ' ') free"
# Every cargo command of the run selects the whole workspace with its tests (here, in
# scripts/build-deb.sh and in tests/src/lib.rs), because cargo resolves features per command:
# dev-dependencies switch on features of shared crates (tokio's test-util, syn's fold,
# serde_json's float_roundtrip), so `cargo build --bins`, `cargo test` and `cargo test -p X`
# each compiled most of the tree again: 14 of CI's 35 minutes, measured from scratch.
cargo build --workspace --bins --tests
# Deployment artifacts, checked by tests/tests/packaging.rs: the cross-built Windows agent and
# its MSI, and the .deb packages (from the binaries just built, to stay within CI's time).
./scripts/build-windows.sh --fast
./scripts/build-msi.sh
./scripts/build-deb.sh --debug
status=0
cargo test --workspace --no-fail-fast || status=$?

# The collector's tests and the collector-facing end-to-end tests again on PostgreSQL: each test
# gets a new database on a private server the harness starts (parc_collector::testing). The
# agent-only, test-net and packaging tests do not touch the database and are not repeated;
# tests/tests/postgres.rs (two collectors on one database) already ran above. The selection is
# by target within the whole workspace (see above): --lib also runs the other crates' unit
# tests, which take seconds, where `-p parc-collector` would take minutes of compiling.
pg_start=$SECONDS
pg_targets=(--lib)
for f in collector/tests/*.rs; do pg_targets+=(--test "$(basename "$f" .rs)"); done
pg_targets+=(--test backbone --test discovery --test trust --test retry_after --test snmp_sweep --test software_delta)
PARC_TEST_POSTGRES=1 cargo test --workspace --no-fail-fast "${pg_targets[@]}" || status=$?
echo "==> PostgreSQL run: $((SECONDS - pg_start)) s"
echo "==> disk after the tests: $(df -h --output=avail . | tail -1 | tr -d ' ') free, target/ $(du -sh target | cut -f1)"
exit $status
