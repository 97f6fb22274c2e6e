#!/usr/bin/env bash
# bench/snmp.sh -- SNMP benchmark: Parc against FusionInventory and net-snmp, in the same run,
# on the test net of ../shared/testnet (network namespaces, 198.18.0.0/15 only; needs root).
#
#   bench/snmp.sh                 3 runs of each case
#   RUNS=5 FDB=5000 IFACES=2000 bench/snmp.sh
#   PARC_BIN=/path/parc-agent bench/snmp.sh   skip the build, benchmark that binary
#
# A. 256 agents: one net-snmp snmpd listens on the 256 addresses 198.18.200.1-198.18.201.0,
#    held by a namespace of its own (tn-snmp) that the test net's router routes to. From the
#    scanner namespace, in the same run:
#      parc-agent snmp 198.18.200.1-198.18.201.0        (every section, as the sweep does)
#      parc-agent snmp ... --identify-only               (what identification needs, as FI's
#                                                          netdiscovery reads before netinventory)
#      fusioninventory-netdiscovery --first .. --last .. --threads 32
#    Each agent answers as a small Linux host (net-snmp's own MIBs, IF-MIB, IP-MIB, HOST-RESOURCES).
# B. One agent, the interface + forwarding-table walk, against snmpbulkwalk of the same columns:
#      B1. snmpd in a namespace with IFACES (veth) interfaces (ifTable/ifXTable), 198.18.202.1;
#      B2. snmpsim on 127.0.0.1 serving the fixture switch with FDB MACs on its uplink
#          (snmpsim is slow, ~1k varbinds/s, so both sides wait on it: this row shows the
#          request count, not the client's speed).
#
# Wall time is fork to exit, CPU is user+sys and RSS the peak of the largest process, all from
# GNU time. The test net is brought up (TN_MODE=routed, default /21) and torn down at the end
# (trap), along with the namespaces and daemons this script adds; the testnet lock is held
# throughout, as bench/sweep.sh and the testnet tests do.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TN=${TN_DIR:-$ROOT/../shared/testnet}
RUNS=${RUNS:-3}
FDB=${FDB:-3000}
IFS_N=${IFACES:-1000}
OUT=${OUT:-${TMPDIR:-/tmp}/parc-bench-snmp-$(date -u +%Y%m%dT%H%M%SZ)}
FIRST=198.18.200.1 LAST=198.18.201.0 AGENT_NET=198.18.200.0/23
WALK_IP=198.18.202.1
NS_A=tn-snmp NS_B=tn-snmpw NS_R=tn-r NS_S=tn-scan
# Transit /30s in the test net's transit range, above the ones testnet.sh uses.
TA_R=198.19.255.241 TA_H=198.19.255.242 TB_R=198.19.255.245 TB_H=198.19.255.246

[[ $(id -u) == 0 ]] || { echo "bench/snmp.sh: needs root (network namespaces)" >&2; exit 2; }
[[ -x $TN/testnet.sh ]] || { echo "bench/snmp.sh: $TN/testnet.sh not found" >&2; exit 2; }
mkdir -p "$OUT"
chmod 755 "$OUT"

exec 9>/run/lock/parc-testnet.lock
flock 9

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for ns in $NS_A $NS_B; do ip netns del "$ns" 2>/dev/null || true; done
  "$TN/testnet.sh" down >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need=()
for tool in snmpd:snmpd snmpbulkwalk:snmp fusioninventory-netdiscovery:fusioninventory-agent-task-network \
            python3:python3 nft:nftables; do
  command -v "${tool%%:*}" >/dev/null || [[ -x /usr/sbin/${tool%%:*} ]] || need+=("${tool#*:}")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[[ -x /usr/bin/time ]] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
SNMPD=$(command -v snmpd || echo /usr/sbin/snmpd)

# PARC_BIN=path: an already built binary (the shared target/ may be busy or hold others' edits).
if [[ -n ${PARC_BIN:-} ]]; then
  BIN=$PARC_BIN
else
  (cd "$ROOT" && cargo build --release -q -p parc-agent)
  BIN=$ROOT/target/release/parc-agent
fi
STATE=$OUT/state; mkdir -p "$STATE"; : > "$OUT/agent.toml"
PARC=("$BIN" --config "$OUT/agent.toml" --state-dir "$STATE")

echo "== test net up" >&2
TN_MODE=routed "$TN/testnet.sh" up >&2

# A namespace hanging off the router: NAME R-ADDR H-ADDR ROUTE
attach_ns() {
  local ns=$1 r=$2 h=$3 route=$4 rif="${1#tn-}0"
  ip netns del "$ns" 2>/dev/null || true
  ip netns add "$ns"
  ip link add "$rif" netns "$NS_R" type veth peer name eth0 netns "$ns"
  ip -n "$NS_R" addr add "$r/30" dev "$rif"
  ip -n "$NS_R" link set "$rif" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$h/30" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$r"
  ip -n "$NS_R" route add "$route" via "$h" dev "$rif"
}

start_snmpd() {  # NS CONF LOG LISTEN-ADDRESS...
  local ns=$1 conf=$2 log=$3; shift 3
  # Listening addresses go on the command line: 256 of them overflow a config line (4 KiB).
  MIBS="" ip netns exec "$ns" "$SNMPD" -f -Lf "$log" -C -c "$conf" "$@" &
  PIDS+=($!)
}

wait_snmp() {  # NS ADDR[:PORT] COMMUNITY: a real GET until it answers
  for _ in $(seq 1 150); do
    ip netns exec "$1" snmpget -v2c -c "$3" -t 0.2 -r 0 "$2" 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "no SNMP answer from $2" >&2; exit 1
}

# --- A: 256 agents ----------------------------------------------------------------------------
attach_ns $NS_A $TA_R $TA_H $AGENT_NET
python3 - "$FIRST" "$LAST" > "$OUT/agents.txt" <<'PY'
import ipaddress, sys
a, b = (int(ipaddress.ip_address(x)) for x in sys.argv[1:3])
print("\n".join(str(ipaddress.ip_address(i)) for i in range(a, b + 1)))
PY
N_AGENTS=$(wc -l < "$OUT/agents.txt")
# The agents' addresses are local through one "local" route (AnyIP), not 256 interface
# addresses: snmpd's own IP-MIB tables then list 2 addresses, as a small device's do, instead
# of all 256 on every agent, and its per-request cost stays that of one device.
ip -n $NS_A route add local $AGENT_NET dev lo
{
  echo 'rocommunity public 198.19.255.0/24'
  echo 'sysName bench-agent'
  echo 'sysLocation Parc SNMP bench'
  echo 'sysContact bench@parc.test'
} > "$OUT/snmpd-256.conf"
mapfile -t LISTEN < <(sed 's/^/udp:/; s/$/:161/' "$OUT/agents.txt")
start_snmpd $NS_A "$OUT/snmpd-256.conf" "$OUT/snmpd-256.log" "${LISTEN[@]}"
wait_snmp $NS_S "$FIRST" public
wait_snmp $NS_S "$LAST" public

# --- B1: one agent with many interfaces --------------------------------------------------------
attach_ns $NS_B $TB_R $TB_H $WALK_IP/32
ip -n $NS_B addr add $WALK_IP/32 dev lo
# veth pairs with both ends inside (this kernel has no dummy driver): IFACES interfaces.
for i in $(seq 1 $((IFS_N / 2))); do echo "link add a$i type veth peer name b$i"; done | ip -n $NS_B -batch -
for i in $(seq 1 $((IFS_N / 2))); do echo "link set a$i up"; echo "link set b$i up"; done | ip -n $NS_B -batch -
echo 'rocommunity public 198.19.255.0/24' > "$OUT/snmpd-walk.conf"
start_snmpd $NS_B "$OUT/snmpd-walk.conf" "$OUT/snmpd-walk.log" udp:$WALK_IP:161
wait_snmp $NS_S $WALK_IP public

# --- B2: snmpsim serving the fixture switch with a big FDB --------------------------------------
SIM_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SIM=0
if python3 -c 'import snmpsim, pysmi' 2>/dev/null; then
  mkdir -p "$OUT/sim/data" "$OUT/sim/cache"; chmod 755 "$OUT/sim" "$OUT/sim/data"; chmod 777 "$OUT/sim/cache"
  python3 "$ROOT/tests/fixtures/snmp/make_fixtures.py" --big-switch "$OUT/sim/data" --fdb "$FDB"
  # As root snmpsim drops to nobody before loading its index; load the dbm modules first.
  python3 -c 'import sys, dbm, dbm.dumb; from snmpsim.commands.responder import main; sys.exit(main())' \
    --data-dir="$OUT/sim/data" --cache-dir="$OUT/sim/cache" --agent-udpv4-endpoint=127.0.0.1:$SIM_PORT \
    --process-user nobody --process-group nogroup > "$OUT/sim/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do
    snmpget -v2c -c bigswitch -t 0.3 -r 0 127.0.0.1:$SIM_PORT 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1 && { SIM=1; break; }
    sleep 0.2
  done
  ((SIM)) || echo "snmpsim did not answer: B2 skipped (see $OUT/sim/log)" >&2
else
  echo "snmpsim not installed (pip install snmpsim pysmi): B2 skipped" >&2
fi

# The columns parc-agent reads for interfaces and the forwarding table (collect.rs).
IF_COLS="1.3.6.1.2.1.2.2.1.2 1.3.6.1.2.1.2.2.1.3 1.3.6.1.2.1.2.2.1.5 1.3.6.1.2.1.2.2.1.6 \
1.3.6.1.2.1.2.2.1.7 1.3.6.1.2.1.2.2.1.8 1.3.6.1.2.1.31.1.1.1.1 1.3.6.1.2.1.31.1.1.1.15 1.3.6.1.2.1.31.1.1.1.18"
FDB_COLS="1.3.6.1.2.1.17.1.4.1.2 1.3.6.1.2.1.17.7.1.2.2.1.2"
# Every other table parc-agent walks on such a device (ENTITY class, IP addresses, Printer-MIB
# probe column, hrStorage, LLDP, ARP), so "-all" rows compare the same work, not just the columns.
OTHER_COLS="1.3.6.1.2.1.47.1.1.1.1.5 1.3.6.1.2.1.4.20.1.2 1.3.6.1.2.1.4.20.1.3 1.3.6.1.2.1.43.10.2.1.4 \
1.3.6.1.2.1.25.2.3.1.3 1.3.6.1.2.1.25.2.3.1.2 1.3.6.1.2.1.25.2.3.1.4 1.3.6.1.2.1.25.2.3.1.5 \
1.3.6.1.2.1.25.2.3.1.6 1.0.8802.1.1.2.1.4.1.1.9 1.3.6.1.2.1.4.22.1.2"

# CPU seconds used so far by the simulated agents (every snmpd and snmpsim started here): the
# benchmark is only a measure of the client while these stay well below the wall time.
server_cpu() {
  local hz ticks=0 p; hz=$(getconf CLK_TCK)
  for p in "${PIDS[@]}"; do
    [[ -r /proc/$p/stat ]] && ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    # ip netns exec and python -c: the server may be a child of the recorded pid.
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
      [[ -r /proc/$c/stat ]] && ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$c/stat")))
    done
  done
  awk "BEGIN{print $ticks / $hz}"
}

# measure CASE NS CMD...: one run, appends "case wall cpu rss_kb found server_cpu" to results.tsv.
measure() {
  local case=$1 ns=$2; shift 2
  local out="$OUT/$case.$RUN.out" t="$OUT/$case.$RUN.time"
  local pre=(); [[ $ns == - ]] || pre=(ip netns exec "$ns")
  local s0; s0=$(server_cpu)
  "${pre[@]}" /usr/bin/time -f '%e %U %S %M' -o "$t" "$@" > "$out" 2> "$OUT/$case.$RUN.err" || true
  local s1; s1=$(server_cpu)
  local found; found=$(count "$case" "$out")
  read -r wall user sys rss < <(tail -1 "$t")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$wall" "$(awk "BEGIN{print $user + $sys}")" "$rss" "$found" \
    "$(awk "BEGIN{print $s1 - $s0}")" >> "$OUT/results.tsv"
  printf '  %-16s run %s: %6.2f s, %s\n' "$case" "$RUN" "$wall" "$found" >&2
}

count() {  # what each tool identified, from its own output
  case $1 in
    parc-256*) python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d=d if isinstance(d,list) else [d]; print(sum(1 for x in d if x.get("identification",{}).get("device_type") not in (None,"other") and x["identification"].get("vendor")))' "$2" ;;
    fi-256) python3 -c 'import re,sys; t=open(sys.argv[1],errors="replace").read(); print(sum("<TYPE>" in b and "<MANUFACTURER>" in b for b in re.findall(r"<DEVICE>(.*?)</DEVICE>", t, re.S)))' "$2" ;;
    parc-walk-*) python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%d ifs, %d fdb" % (len(d["interfaces"]), len((d.get("bridge") or {}).get("forwarding") or [])))' "$2" ;;
    bulkwalk-*) echo "$(grep -c . "$2") varbinds" ;;
  esac
}

bulkwalk() {  # TARGET COMMUNITY COLUMNS...: walk each column like parc does, one after the other
  local target=$1 community=$2; shift 2
  for col in "$@"; do snmpbulkwalk -v2c -c "$community" -Cr25 -On -Oq "$target" "$col"; done
}
export -f bulkwalk

# snmpd reloads its interface and storage caches when they are a few seconds old, and a
# reload of 1,000 interfaces takes ~0.3 s: the first tool after a pause would pay it for the
# others. Every case starts on warm caches, fetched (untimed) just before it.
warm() {  # ADDRESS
  local col
  for col in 1.3.6.1.2.1.2.2.1.2 1.3.6.1.2.1.31.1.1.1.1 1.3.6.1.2.1.25.2.3.1.3 1.3.6.1.2.1.4.22.1.2; do
    ip netns exec $NS_S snmpbulkwalk -v2c -c public -Cr50 "$1" "$col" > /dev/null 2>&1 || true
  done
}

: > "$OUT/results.tsv"
for RUN in $(seq 1 "$RUNS"); do
  echo "== run $RUN" >&2
  warm "$FIRST"
  measure parc-256 $NS_S "${PARC[@]}" snmp "$FIRST-$LAST" --community public --format json
  warm "$FIRST"
  measure parc-256-identify $NS_S "${PARC[@]}" snmp "$FIRST-$LAST" --community public --format json --identify-only
  warm "$FIRST"
  measure fi-256 $NS_S fusioninventory-netdiscovery --first "$FIRST" --last "$LAST" --community public --threads 32
  warm $WALK_IP
  # shellcheck disable=SC2086
  measure parc-walk-ifs $NS_S "${PARC[@]}" snmp $WALK_IP --community public --format json
  warm $WALK_IP
  # shellcheck disable=SC2086
  measure bulkwalk-ifs $NS_S bash -c 'bulkwalk "$@"' _ $WALK_IP public $IF_COLS
  warm $WALK_IP
  # shellcheck disable=SC2086
  measure bulkwalk-ifs-all $NS_S bash -c 'bulkwalk "$@"' _ $WALK_IP public $IF_COLS $OTHER_COLS
  if ((SIM)); then
    measure parc-walk-fdb - "${PARC[@]}" snmp 127.0.0.1 --port "$SIM_PORT" --community bigswitch --format json --device-timeout-s 600
    # shellcheck disable=SC2086
    measure bulkwalk-fdb - bash -c 'bulkwalk "$@"' _ 127.0.0.1:$SIM_PORT bigswitch $IF_COLS $FDB_COLS
    # shellcheck disable=SC2086
    measure bulkwalk-fdb-all - bash -c 'bulkwalk "$@"' _ 127.0.0.1:$SIM_PORT bigswitch $IF_COLS $FDB_COLS $OTHER_COLS
  fi
done

echo
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), RUNS=$RUNS, $N_AGENTS agents, IFACES=$IFS_N, FDB=$FDB, $(nproc) CPUs; raw: $OUT/results.tsv"
python3 - "$OUT/results.tsv" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    case, wall, cpu, rss, found, server = line.rstrip("\n").split("\t")
    rows.setdefault(case, []).append((float(wall), float(cpu), int(rss), found, float(server)))
def med(case, i):
    return statistics.median(r[i] for r in rows[case]) if case in rows else None
refs = {"parc-256": "fi-256", "parc-256-identify": "fi-256", "parc-walk-ifs": "bulkwalk-ifs-all", "parc-walk-fdb": "bulkwalk-fdb-all"}
print("| case | wall median s (min-max) | CPU median s | peak RSS MB | found (last run) | agents' CPU s | peer / parc wall |")
print("|---|---|---|---|---|---|---|")
for case, rs in rows.items():
    walls = [r[0] for r in rs]
    ref = refs.get(case)
    ratio = "%.1f x" % (med(ref, 0) / med(case, 0)) if ref in rows and med(case, 0) > 0 else ""
    print("| %s | %.2f (%.2f-%.2f) | %.2f | %.0f | %s | %.2f | %s |" % (
        case, med(case, 0), min(walls), max(walls), med(case, 1),
        max(r[2] for r in rs) / 1024, rs[-1][3], med(case, 4), ratio))
PY
