#!/usr/bin/env bash
# Screenshots of every page of the web UI at desktop (1366x768) and tablet (820x1180) widths,
# into docs/screenshots/: a collector with demo data (tests/tests/ui.rs `screenshots`), driven
# in headless Chromium. Needs chromium and chromium-driver (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/screenshots}"
mkdir -p "$out"
PARC_SCREENSHOTS="$(cd "$out" && pwd)" \
  cargo test -p parc-tests --test ui -- --ignored --exact screenshots --nocapture
# Smaller files for the repository when optipng is around; the PNGs are fine without.
if command -v optipng >/dev/null 2>&1; then optipng -quiet -o2 "$out"/*.png; fi
ls -l "$out"
