#!/usr/bin/env bash
# Quick start: builds Parc, starts the collector on embedded SQLite (127.0.0.1:8080, data in
# ./parc-data), creates a site token, runs the agent once against it and shows what the CMDB
# stored. The collector keeps running afterwards; the last lines say how to stop it.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${PARC_DEMO_DIR:-$PWD/parc-data}
LISTEN=${PARC_LISTEN:-127.0.0.1:8080}
URL="http://$LISTEN"
DB="sqlite://$DATA/collector.db"
BIN=target/release
# The collector creates the user `admin` with this password on its first start (a new database);
# sign in with it at $URL/ (web interface) or as below.
ADMIN_PASSWORD=${PARC_DEMO_ADMIN_PASSWORD:-parc-demo-admin-password}
JAR="$DATA/session.cookies"

cargo build --release -q -p parc-agent -p parc-collector
mkdir -p "$DATA"

healthy() { curl -fsS "$URL/healthz" >/dev/null 2>&1; }

if ! healthy; then
  echo "==> starting the collector on $URL (database $DB, log $DATA/collector.log)"
  PARC_INITIAL_ADMIN_PASSWORD="$ADMIN_PASSWORD" nohup "$BIN/parc-collector" serve --listen "$LISTEN" --database "$DB" >"$DATA/collector.log" 2>&1 &
  echo $! >"$DATA/collector.pid"
  for _ in $(seq 1 100); do healthy && break; sleep 0.1; done
  healthy || { echo "collector did not start; see $DATA/collector.log" >&2; exit 1; }
fi

echo "==> creating a token for site 'demo'"
TOKEN=$("$BIN/parc-collector" token create --site demo --database "$DB")

echo "==> running the agent once (inventory of this machine, pushed to the collector)"
"$BIN/parc-agent" --state-dir "$DATA/agent" --server "$URL" --token "$TOKEN" inventory
"$BIN/parc-agent" --state-dir "$DATA/agent" --server "$URL" --token "$TOKEN" push

echo "==> signing in as admin"
curl -fsS -c "$JAR" -H 'Content-Type: application/json' \
  -d "{\"login\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" "$URL/api/v1/session" >/dev/null \
  || { echo "sign-in refused: a database from an earlier run keeps its first admin password (PARC_DEMO_ADMIN_PASSWORD)" >&2; exit 1; }
echo "==> what the CMDB holds now ($URL/api/v1/assets):"
curl -fsS -b "$JAR" "$URL/api/v1/assets" | { python3 -m json.tool 2>/dev/null || cat; }
echo
echo "Web interface:   $URL/   (login admin, password $ADMIN_PASSWORD)"
echo "Look further:   curl -b $JAR $URL/api/v1/assets/1   and   curl -b $JAR $URL/api/v1/assets/1/history"
if [ -f "$DATA/collector.pid" ]; then
  echo "Stop the collector:   kill $(cat "$DATA/collector.pid")"
fi
