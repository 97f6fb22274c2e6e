#!/usr/bin/env bash
# Morning-storm benchmark of the collector (issue #7): `parc-storm` (bench/storm) plays N agents
# posting realistic gzip inventories (~800 packages, 1-3 NICs, varied hardware) over real HTTP
# to a release `parc-collector serve` on 127.0.0.1, honouring 429 + Retry-After as the agent
# does. Site tokens are created with the real CLI. Prints a markdown table against the targets.
#
#   bench/storm.sh                  # every case below
#   AGENTS=2000 bench/storm.sh      # a smaller fleet (the targets are for 10,000)
#   PG=0 bench/storm.sh             # skip the PostgreSQL case
#   FIRST_ONLY=1 bench/storm.sh     # the two first storms only (SQLite, PostgreSQL): ~1.5 min
#
# Cases (one fresh database each for "first" and "pg"; the others reuse "first"'s):
#   first  AGENTS first-time agents on SQLite, CONCURRENCY at once      target <= 60 s
#   next   the same agents the next morning (new document ids, a few
#          upgraded packages and new addresses); an agent whose
#          software list is the one acknowledged in "first" leaves it
#          out, one whose list changed sends the changes, as parc-agent
#          does                                                         target <= 15 s
#   p99    P99_AGENTS of them again, 200 at once                        target p99 <= 200 ms
#   whole  "next" again with every document whole (agents that predate
#          acknowledged lists); the lists then match what the CMDB
#          holds for every agent, not 80 %                              shown, no target
#   pg     the first storm through two collectors on one private
#          PostgreSQL server (agents spread over both)                  target >= SQLite's rate
# Each row also gives the CPU per document of the collectors, the PostgreSQL server and the
# generator (from /proc): all three share the machine's cores.
# Only loopback is used; the PostgreSQL server listens on a Unix socket and 127.0.0.1.
set -euo pipefail

AGENTS=${AGENTS:-10000}
CONCURRENCY=${CONCURRENCY:-64}
P99_AGENTS=${P99_AGENTS:-2000}
SITES=${SITES:-8}
PG=${PG:-auto}
FIRST_ONLY=${FIRST_ONLY:-0}
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ -z "${PARC_BIN:-}" ]; then
    cargo build --release -q -p parc-collector -p parc-storm
    PARC_BIN=$ROOT/target/release
fi
COL=$PARC_BIN/parc-collector
STORM=$PARC_BIN/parc-storm

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${PGDATA_DIR:-}" ]; then
        "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# start_collector NAME DATABASE_URL: starts `serve` on a free loopback port; sets URL.
start_collector() {
    local name=$1 db=$2
    PARC_INITIAL_ADMIN_PASSWORD=storm-bench-admin RUST_LOG=${RUST_LOG:-info} \
        "$COL" serve --listen 127.0.0.1:0 --database "$db" >"$work/$name.out" 2>"$work/$name.log" &
    pids+=($!)
    local pid=$! i
    for i in $(seq 1 300); do
        URL=$(sed -n 's/^listening on //p' "$work/$name.out" | head -1)
        [ -n "$URL" ] && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$work/$name.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "collector $name did not start" >&2
    exit 1
}

# tokens DATABASE_URL FILE: one site token per line, created as an admin would.
tokens() {
    : >"$2"
    for s in $(seq 1 "$SITES"); do
        "$COL" token create --site "site-$s" --database "$1" >>"$2"
    done
}

# cpu_ticks PID...: user + system CPU of these processes so far, in 1/100 s.
cpu_ticks() {
    local t=0 p
    for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
    echo "$t"
}
# pg_ticks: the same for every postgres process now alive (the server's connections live as
# long as the collectors' pools, so a storm's work is counted; exited workers are not).
pg_ticks() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk '$2 == "(postgres)" { s += $14 + $15 } END { print s + 0 }'
}

# storm NAME ARGS...: runs parc-storm, keeps its JSON summary in $work/NAME.json and the CPU the
# collectors and the database server used meanwhile in $work/NAME.cpu.
storm() {
    local name=$1
    shift
    echo "== $name: parc-storm $*" >&2
    local c0 p0
    c0=$(cpu_ticks "${pids[@]}")
    p0=$(pg_ticks)
    "$STORM" --json "$@" >"$work/$name.json"
    echo "$(($(cpu_ticks "${pids[@]}") - c0)) $(($(pg_ticks) - p0))" >"$work/$name.cpu"
    cat "$work/$name.json" >&2
}

# --- SQLite ----------------------------------------------------------------------------
SQLITE="sqlite://$work/storm.db"
"$COL" token list --database "$SQLITE" >/dev/null 2>&1 || true # creates and migrates
tokens "$SQLITE" "$work/tokens"
start_collector sqlite "$SQLITE"
storm first --url "$URL" --tokens "$work/tokens" --agents "$AGENTS" --round first --concurrency "$CONCURRENCY"
if [ "$FIRST_ONLY" != 1 ]; then
    storm next --url "$URL" --tokens "$work/tokens" --agents "$AGENTS" --round next --concurrency "$CONCURRENCY"
    storm p99 --url "$URL" --tokens "$work/tokens" --agents "$P99_AGENTS" --round next --concurrency 200 --seed 1
    storm whole --url "$URL" --tokens "$work/tokens" --agents "$AGENTS" --round next --concurrency "$CONCURRENCY" --whole-documents
fi
sqlite_assets=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from assets").fetchone()[0])' "$work/storm.db")
kill "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
pids=()

# --- PostgreSQL: two collectors on one private server ----------------------------------
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
pg_ready=0
if [ "$PG" != 0 ] && [ -n "$PG_BIN" ] && grep -q 'postgres' collector/src/store/mod.rs \
    && ! grep -q 'PostgreSQL is not supported' collector/src/store/mod.rs; then
    pg_ready=1
fi
if [ "$pg_ready" = 1 ]; then
    PGDATA_DIR=$work/pgdata
    # initdb refuses to run as root: run the server as nobody when we are root.
    as=()
    if [ "$(id -u)" = 0 ]; then
        chown nobody "$work"
        mkdir -p "$PGDATA_DIR" && chown nobody "$PGDATA_DIR"
        as=(runuser -u nobody --)
    fi
    "${as[@]}" "$PG_BIN/initdb" -D "$PGDATA_DIR" -U parc --auth=trust -E UTF8 >/dev/null
    pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${as[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$work/pg.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $pgport -k $work -c fsync=on -c synchronous_commit=off -c max_connections=100" start >/dev/null
    "${as[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$pgport" -U parc parc
    PGURL="postgres://parc@127.0.0.1:$pgport/parc"
    "$COL" token list --database "$PGURL" >/dev/null 2>&1 || true
    tokens "$PGURL" "$work/pgtokens"
    start_collector pg1 "$PGURL"
    URL1=$URL
    start_collector pg2 "$PGURL"
    URL2=$URL
    storm pg --url "$URL1" --url "$URL2" --tokens "$work/pgtokens" --agents "$AGENTS" --round first --concurrency "$CONCURRENCY"
    pg_assets=$("$PG_BIN/psql" -h 127.0.0.1 -p "$pgport" -U parc -d parc -tAc 'select count(*) from assets')
else
    echo "PostgreSQL case skipped (PG=$PG, server binaries: ${PG_BIN:-none}, PostgreSQL store not in this tree)" >&2
    pg_assets=
fi

python3 - "$work" "$AGENTS" "$CONCURRENCY" "$P99_AGENTS" "$sqlite_assets" "${pg_assets:-}" <<'PY'
import json, sys
from pathlib import Path
work, agents, conc, p99_agents, sqlite_assets, pg_assets = sys.argv[1:7]
def load(name):
    p = Path(work) / f"{name}.json"
    if not p.exists():
        return None
    s = json.loads(p.read_text())
    cpu = Path(work) / f"{name}.cpu"
    collector, server = (int(t) for t in cpu.read_text().split()) if cpu.exists() else (0, 0)
    n = s['documents']
    s['cpu_ms'] = (collector * 10 / n, max(server, 0) * 10 / n, s.get('generator_cpu_s', 0) * 1000 / n)
    return s
first, nxt, p99, whole, pg = load("first"), load("next"), load("p99"), load("whole"), load("pg")
rows = []
def row(case, setup, s, target, measured, ok):
    collector, server, generator = s['cpu_ms']
    cpu = f"{collector:.2f} / {server:.2f} / {generator:.2f}" if server else f"{collector:.2f} / – / {generator:.2f}"
    rows.append(f"| {case} | {setup} | {s['documents']:,} | {s['wall_s']:.1f} | {s['per_second']:.0f} "
                f"| {s['p50_ms']:.0f} / {s['p95_ms']:.0f} / {s['p99_ms']:.0f} | {s['busy_429']:,} "
                f"| {s['errors'] + s['undelivered']} | {cpu} | {target} | {measured}{'' if ok is None else ' met' if ok else ' **not met**'} |")
scale = int(agents) / 10000
row("first storm", f"SQLite, {int(agents):,} new agents, {conc} at once", first,
    f"≤ {60*scale:.0f} s", f"{first['wall_s']/(60*scale):.2f}×", first['wall_s'] <= 60*scale)
if nxt:
    row("next storm", f"SQLite, same agents, {conc} at once, {nxt['software_left_out']:,} lists left out, "
        f"{nxt.get('software_deltas', 0):,} sent as changes ({nxt['software_list_unknown']} sent again whole)", nxt,
        f"≤ {15*scale:.0f} s", f"{nxt['wall_s']/(15*scale):.2f}×", nxt['wall_s'] <= 15*scale)
if p99:
    row("200 concurrent", f"SQLite, {int(p99_agents):,} agents again, 200 at once", p99,
        "p99 ≤ 200 ms", f"{p99['p99_ms']/200:.2f}×", p99['p99_ms'] <= 200)
if whole:
    row("next storm, whole documents", f"SQLite, same agents, {conc} at once, every list sent", whole,
        "none (older agents)", f"{whole['wall_s']/nxt['wall_s']:.2f}× the next storm's time", None)
if pg:
    row("first storm", f"PostgreSQL, 2 collectors, {int(agents):,} new agents, {conc} at once", pg,
        f"≥ {first['per_second']:.0f}/s", f"{pg['per_second']/first['per_second']:.2f}×",
        pg['per_second'] >= first['per_second'])
print("| case | setup | documents | wall s | docs/s | latency p50 / p95 / p99 ms | 429s | errors "
      "| CPU ms per document: collectors / PostgreSQL / generator | target | ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
print(f"\nAssets in the CMDB after the storms: SQLite {sqlite_assets}" + (f", PostgreSQL {pg_assets}" if pg_assets else "")
      + f" (expected {int(agents):,}). p99 over every answer, 429s included: "
      + ", ".join(f"{n} {s['all_p99_ms']:.0f} ms" for n, s in [("first", first), ("next", nxt), ("200 concurrent", p99),
                                                                ("whole", whole), ("pg", pg)] if s))
PY
