#!/usr/bin/env bash
# Quick runs of the collector's next storm alone (issue #7), for comparing trees: the first storm
# is played once into a SQLite database kept in SNAP; each run copies it, starts a fresh release
# `parc-collector serve` on 127.0.0.1, plays `parc-storm --round next` and prints its JSON summary
# and the collector's CPU per document (from /proc). The whole benchmark is bench/storm.sh.
#
#   bench/next-storm.sh                     # builds the snapshot on the first call, then runs
#   RUNS=3 BIN=/other/tree/target/release bench/next-storm.sh
#   EXTRA=--no-software-delta bench/next-storm.sh   # changed lists sent whole
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
SNAP=${SNAP:-/tmp/parc-next-storm}
AGENTS=${AGENTS:-10000}
RUNS=${RUNS:-1}
if [ ! -x "$BIN/parc-storm" ]; then
    cargo build --release -q -p parc-collector -p parc-storm
fi
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

serve() {
    PARC_INITIAL_ADMIN_PASSWORD=storm-bench-admin RUST_LOG=warn "$BIN/parc-collector" serve \
        --listen 127.0.0.1:0 --database "sqlite://$work/storm.db" >"$work/out" 2>"$work/log" &
    pid=$!
    for _ in $(seq 1 300); do
        URL=$(sed -n 's/^listening on //p' "$work/out" | head -1)
        [ -n "$URL" ] && return 0
        sleep 0.1
    done
    cat "$work/log" >&2
    exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

if [ ! -f "$SNAP/storm.db" ]; then
    mkdir -p "$SNAP"
    "$BIN/parc-collector" token list --database "sqlite://$work/storm.db" >/dev/null 2>&1 || true
    for s in $(seq 1 8); do
        "$BIN/parc-collector" token create --site "site-$s" --database "sqlite://$work/storm.db"
    done >"$SNAP/tokens" 2>/dev/null
    serve
    "$BIN/parc-storm" --json --url "$URL" --tokens "$SNAP/tokens" --agents "$AGENTS" --round first
    stop
    cp "$work"/storm.db* "$SNAP/"
fi
for _ in $(seq 1 "$RUNS"); do
    rm -f "$work"/storm.db*
    cp "$SNAP"/storm.db* "$work/"
    sync # the copy's writeback would otherwise land in the storm
    serve
    c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    # shellcheck disable=SC2086
    "$BIN/parc-storm" --json --url "$URL" --tokens "$SNAP/tokens" --agents "$AGENTS" --round next ${EXTRA:-}
    c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    ticks=$(getconf CLK_TCK)
    python3 -c "import sys; print(f'collector CPU per document: {($c1 - $c0) / $ticks * 1000 / $AGENTS:.2f} ms')"
    stop
done
