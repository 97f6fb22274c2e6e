#!/usr/bin/env bash
# Builds the Parc agent MSI from the cross-built exe with wixl (Debian's msitools), and copies
# the group policy templates beside it.
#
# Needs: target/windows/x86_64-pc-windows-gnu/release/parc-agent.exe (scripts/build-windows.sh)
# Output: target/packages/parc-agent-VERSION-x64.msi, target/packages/policy/ (ADMX/ADML)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v wixl >/dev/null 2>&1 || ! command -v msiinfo >/dev/null 2>&1; then
  echo "==> installing: wixl msitools"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wixl msitools >/dev/null
fi

exe=target/windows/x86_64-pc-windows-gnu/release/parc-agent.exe
[ -f "$exe" ] || { echo "build-msi: $exe is missing; run scripts/build-windows.sh first" >&2; exit 1; }

# MSI versions are major.minor.build (each field < 256 for the first two); Cargo's fits.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
out=target/packages
msi=$out/parc-agent-$version-x64.msi
mkdir -p "$out/policy"
# wixl resolves Source= relative to the working directory: hand it the exe by a plain name.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$exe" "$work/parc-agent.exe"
(cd "$work" && wixl -a x64 -D "Version=$version" -D Exe=parc-agent.exe \
  -o parc-agent.msi "$OLDPWD/packaging/windows/parc-agent.wxs")
mv "$work/parc-agent.msi" "$msi"
cp -r packaging/windows/policy/. "$out/policy/"
echo "==> $msi ($(stat -c %s "$msi") bytes)"
