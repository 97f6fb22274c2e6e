#!/usr/bin/env bash
# bench/sweep.sh -- end-to-end sweep benchmark: Parc against the peers, in the same run, on the
# test net of ../shared/testnet (network namespaces, 198.18.0.0/15 only; needs root).
#
#   bench/sweep.sh            routed /21, direct /21, routed /21 with 10 % loss, routed /21 with 5 ms delay
#   BIG=1 bench/sweep.sh      also the routed /16 (10,000 hosts)
#   RUNS=5 ROWS="routed21 direct21" bench/sweep.sh
#   RATE16=150000 BIG=1 bench/sweep.sh   the /16 at another rate than the /21s (default: RATE)
#   PARC_BIN=/path/parc-agent bench/sweep.sh   skip the build, benchmark that binary
#
# Each row brings the test net up with its own settings, runs every case RUNS times through
# bench-sweep.py (wall, CPU, peak RSS, recall per class, false positives) and the net is always
# torn down at the end (trap), even on failure or Ctrl-C. Results: $OUT/results.jsonl and the
# table printed at the end. Peers missing from the machine are installed with apt-get.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TN=${TN_DIR:-$ROOT/../shared/testnet}
RUNS=${RUNS:-3}
RATE=${RATE:-100000}
RATE16=${RATE16:-$RATE}
OUT=${OUT:-${TMPDIR:-/tmp}/parc-bench-sweep-$(date -u +%Y%m%dT%H%M%SZ)}
ROWS=${ROWS:-routed21 direct21 loss21 delay21}
[[ ${BIG:-0} == 1 ]] && ROWS="$ROWS routed16"

[[ $(id -u) == 0 ]] || { echo "bench/sweep.sh: needs root (network namespaces, raw sockets)" >&2; exit 2; }
[[ -x $TN/testnet.sh ]] || { echo "bench/sweep.sh: $TN/testnet.sh not found (the repo must sit beside shared/)" >&2; exit 2; }

# One test net at a time per machine (tests/tests/sweep_testnet.rs takes the same lock).
exec 9>/run/lock/parc-testnet.lock
flock 9
trap '"$TN/testnet.sh" down >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM

need=()
for tool in nmap:nmap fping:fping zmap:zmap masscan:masscan arp-scan:arp-scan nft:nftables python3:python3; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# PARC_BIN=path: an already built binary (the shared target/ may be busy or hold others' edits).
if [[ -n ${PARC_BIN:-} ]]; then
  BIN=$PARC_BIN
else
  (cd "$ROOT" && cargo build --release -q -p parc-agent)
  BIN=$ROOT/target/release/parc-agent
fi
"$BIN" sweep --help >/dev/null

PARC="parc=$BIN sweep {subnet} --format ips --rate {rate} --quiet"
PARC_N="parc-no-names=$BIN sweep {subnet} --format ips --rate {rate} --quiet --no-names"
PARC_U="parc-unpriv=$BIN sweep {subnet} --format ips --rate {rate} --quiet --unprivileged"
# Host discovery only (nmap -sn's contract): an address that answered gets no more probes.
PARC_F="parc-first=$BIN sweep {subnet} --format ips --rate {rate} --quiet --first-answer"

row() {  # label cases [VAR=value...]
  local label=$1 cases=$2; shift 2
  echo "== $label ($*)" >&2
  (
    env "$@" "$TN/testnet.sh" up >&2
    eval "$(env "$@" "$TN/testnet.sh" env)"
    python3 "$TN/bench-sweep.py" --label "$label" --runs "$RUNS" --rate "${ROW_RATE:-$RATE}" --timeout 300 --out "$OUT" \
      --custom "$PARC" --custom "$PARC_N" --custom "$PARC_U" --custom "$PARC_F" --cases "$cases"
  )
}

for r in $ROWS; do
  case $r in
    routed21) row routed-21 parc,parc-no-names,parc-first,parc-unpriv,nmap-fast-win,fping-1s TN_MODE=routed ;;
    direct21) row direct-21 parc,parc-no-names,parc-unpriv,arp-scan-fast,nmap-PR-T4 TN_MODE=direct ;;
    loss21) row routed-21-loss10 parc,nmap-fast-win TN_MODE=routed TN_LOSS_PCT=10 ;;
    delay21) row routed-21-delay5ms parc,nmap-fast-win TN_MODE=routed TN_DELAY_MS=5 ;;
    routed16) RUNS=${RUNS16:-1} ROW_RATE=$RATE16 row routed-16 parc,parc-no-names,parc-first,parc-unpriv,nmap-fast-win \
                TN_MODE=routed TN_SUBNET=198.18.0.0/16 TN_PCS=9980 TN_SERVERS=20 ;;
    *) echo "unknown row $r" >&2; exit 2 ;;
  esac
done

echo
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), RUNS=$RUNS RATE=$RATE RATE16=$RATE16, $(nproc) CPUs; raw results in $OUT/results.jsonl"
python3 "$TN/bench-sweep.py" --out "$OUT" --summary
# Peak RSS and the ratio of each case's median wall time to the reference peer of its row.
python3 - "$OUT/results.jsonl" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line); rows.setdefault(r['label'], {}).setdefault(r['case'], []).append(r)
print('\n| net | case | wall median s | ratio to reference | cpu median s | peak RSS MB |')
print('|---|---|---|---|---|---|')
for label, cases in rows.items():
    ref = 'arp-scan-fast' if 'arp-scan-fast' in cases else 'nmap-fast-win'
    refw = statistics.median(x['wall_s'] for x in cases[ref]) if ref in cases else None
    for case, rs in cases.items():
        w = statistics.median(x['wall_s'] for x in rs)
        c = statistics.median(x['user_s'] + x['sys_s'] for x in rs)
        rss = max(x['maxrss_kb'] for x in rs) / 1024
        ratio = '%.2f x %s' % (w / refw, ref) if refw else '-'
        print('| %s | %s | %.2f | %s | %.2f | %.1f |' % (label, case, w, ratio, c, rss))
PY
