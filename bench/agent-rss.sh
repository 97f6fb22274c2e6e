#!/usr/bin/env bash
# bench/agent-rss.sh -- idle memory of the agent service: builds release binaries, starts a
# collector on 127.0.0.1 with a fresh SQLite file, runs `parc-agent run` against it, waits until
# its first inventory is in the CMDB, lets it settle and prints VmRSS / VmHWM / RssFile / RssAnon.
#   bench/agent-rss.sh            (AGENT=path to skip the agent build)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
(cd "$ROOT" && cargo build --release -q -p parc-agent -p parc-collector)
AG=${AGENT:-$ROOT/target/release/parc-agent}
COL=$ROOT/target/release/parc-collector
PORT=${PORT:-18990}
D=$(mktemp -d)
trap 'kill $AP $CP 2>/dev/null || true; rm -rf "$D"' EXIT
"$COL" serve --listen 127.0.0.1:$PORT --database "sqlite://$D/c.db" > "$D/col.out" 2>&1 &
CP=$!; AP=$CP
until grep -q listening "$D/col.out"; do kill -0 $CP; sleep 0.2; done
TOKEN=$("$COL" token create --site rss --database "sqlite://$D/c.db" 2>/dev/null | grep -oE '[A-Za-z0-9_-]{20,}' | head -1)
mkdir -p "$D/state"
cat > "$D/agent.toml" <<T
state_dir = "$D/state"
[server]
url = "http://127.0.0.1:$PORT"
token = "$TOKEN"
[schedule]
interval = "1h"
splay = "0s"
T
"$AG" --config "$D/agent.toml" run --no-splay > "$D/agent.out" 2>&1 &
AP=$!
until curl -sf "http://127.0.0.1:$PORT/api/v1/assets" | grep -q '"id"'; do kill -0 $AP; sleep 0.5; done
# Idle means after the first cycle: give the delivery and the spool clean-up time to finish.
sleep 5
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') $(basename "$AG") $(stat -c %s "$AG") bytes"
grep -E "VmRSS|VmHWM|RssFile|RssAnon" /proc/$AP/status
