#!/usr/bin/env bash
# Runs every cargo-fuzz harness of Parc, one at a time, each until RUNS executions or SECONDS
# seconds, whichever comes first, and prints one line per target (executions, new corpus
# entries, crashes). Crashes are kept under <crate>/fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh                     # every target, 10 M executions or 20 min each
#   RUNS=100000 SECONDS_PER_TARGET=60 scripts/fuzz.sh intake_snmp dns_reply
#
# cargo-fuzz needs nightly compiler features; RUSTC_BOOTSTRAP=1 enables them on the pinned
# stable toolchain. Single job, niced: the build machine is shared.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-10000000}
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-1200}
LOG_DIR=${LOG_DIR:-$ROOT/target/fuzz-logs}
# Every harnessed decoder is safe Rust, where AddressSanitizer has nothing to instrument but
# costs 2-3x the executions; panics, hangs (-timeout) and unbounded memory (-rss_limit_mb) are
# caught without it. SANITIZER=address brings it back for a run over unsafe dependencies.
SANITIZER=${SANITIZER:-none}
export RUSTC_BOOTSTRAP=1

# crate directory : target
TARGETS=(
  collector/fuzz:intake_inventory
  collector/fuzz:intake_discovery
  collector/fuzz:intake_snmp
  collector/fuzz:gzip_body
  agent/fuzz:decode_reply
  agent/fuzz:dns_reply
  agent/fuzz:netbios_reply
  agent/fuzz:sweep_replies
)

# wanted TARGET [NAMES...]: true when no names were given or TARGET is one of them.
wanted() {
  local t=$1; shift
  [ $# -eq 0 ] && return 0
  for w in "$@"; do [ "$w" = "$t" ] && return 0; done
  return 1
}

mkdir -p "$LOG_DIR"
status=0
printf '%-18s %12s %8s %8s %s\n' target executions seconds corpus crashes
for entry in "${TARGETS[@]}"; do
  dir=${entry%%:*}
  target=${entry#*:}
  wanted "$target" "$@" || continue
  cd "$ROOT/$dir"
  mkdir -p "corpus/$target" "seeds/$target"
  if ! nice -n 10 cargo fuzz build -O --sanitizer "$SANITIZER" "$target" >"$LOG_DIR/$target.build.log" 2>&1; then
    printf '%-18s build failed, see %s\n' "$target" "$LOG_DIR/$target.build.log"
    status=1
    continue
  fi
  log=$LOG_DIR/$target.log
  started=$(date +%s)
  # -rss_limit_mb: a decoder that allocates without bound is a crash, not a slow run.
  if ! nice -n 10 cargo fuzz run -O --sanitizer "$SANITIZER" "$target" "corpus/$target" "seeds/$target" -- \
      -runs="$RUNS" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 >"$log" 2>&1; then
    status=1
  fi
  elapsed=$(( $(date +%s) - started ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  corpus=$(find "corpus/$target" -type f | wc -l)
  crashes=$(find "artifacts/$target" -type f 2>/dev/null | wc -l)
  printf '%-18s %12s %8s %8s %s\n' "$target" "${execs:-?}" "$elapsed" "$corpus" "$crashes"
done
exit $status
