#!/usr/bin/env bash
# Builds the Debian packages parc-agent and parc-collector with dpkg-deb from a staged tree:
# no extra tool to install or compile (cargo-deb would add minutes of build on a fresh CI
# machine), and every file, mode and maintainer script is in packaging/linux/ for review.
#
#   scripts/build-deb.sh            release binaries (what admins install)
#   scripts/build-deb.sh --debug    the binaries of `cargo build --workspace --bins --tests`, stripped
#                                   (CI checks the packaging without a second, release build)
#
# Output: target/packages/parc-{agent,collector}_VERSION_ARCH.deb
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
case "${1:-}" in
  "") ;;
  --debug) profile=debug ;;
  *) echo "usage: $0 [--debug]" >&2; exit 2 ;;
esac
for cmd in dpkg-deb objcopy objdump; do
  command -v "$cmd" >/dev/null || { echo "build-deb: $cmd is missing (apt-get install dpkg binutils)" >&2; exit 1; }
done

if [ "$profile" = release ]; then
  cargo build --release --locked -p parc-agent -p parc-collector
else
  # The command of scripts/test.sh, so that this reuses its build (same features).
  cargo build --workspace --bins --tests
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
out=target/packages
stage=target/packages/stage
rm -rf "$stage"
mkdir -p "$out" "$stage"

# Highest glibc symbol version the binary links against, for Depends.
glibc_floor() {
  objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1
}

# The packaged configs are the documented examples with the per-package data directories
# (agent and collector can share a host, each with its own StateDirectory=).
packaged_config() { # example, from, to, dest
  grep -qF "$2" "$1" || { echo "build-deb: $1 no longer contains $2; update $0" >&2; exit 1; }
  sed "s#$2#$3#" "$1" >"$4"
}

# stage NAME DESCRIPTION DEPENDS
stage() {
  local name=$1 description=$2 depends=$3
  local root=$stage/$name
  local bin=target/$profile/$name
  [ -x "$bin" ] || { echo "build-deb: $bin was not built" >&2; exit 1; }
  install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/parc" \
    "$root/usr/share/doc/$name"
  objcopy --strip-debug "$bin" "$root/usr/bin/$name"
  chmod 0755 "$root/usr/bin/$name"
  install -m 0644 "packaging/linux/${name#parc-}/$name.service" "$root/lib/systemd/system/"
  for script in postinst prerm postrm; do
    install -m 0755 "packaging/linux/${name#parc-}/$script" "$root/DEBIAN/"
  done
  install -m 0644 docs/deploy-linux.md "$root/usr/share/doc/$name/"
  echo "/etc/parc/${name#parc-}.toml" >"$root/DEBIAN/conffiles"
  local glibc
  glibc=$(glibc_floor "$root/usr/bin/$name")
  cat >"$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: Parc maintainers <parc@localhost>
Section: admin
Priority: optional
Depends: libc6 (>= $glibc)${depends:+, $depends}
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Homepage: https://parc.invalid/
Description: $description
CONTROL
}

stage parc-agent "Parc agent: host inventory and network sweeps for the Parc CMDB
 Collects this host's hardware, OS, network and software facts, sweeps the networks it is
 allowed to, and delivers both to the Parc collector, spooling while it is away." ""
packaged_config config/examples/agent.toml 'state_dir = "/var/lib/parc"' \
  'state_dir = "/var/lib/parc/agent"' "$stage/parc-agent/etc/parc/agent.toml"
chmod 0600 "$stage/parc-agent/etc/parc/agent.toml"

stage parc-collector "Parc collector: receives agent documents and keeps the CMDB
 Authenticates Parc agents, validates and reconciles their documents, and stores the
 inventory with its history in SQLite or PostgreSQL." "passwd"
packaged_config config/examples/collector.toml 'sqlite:///var/lib/parc/collector.db' \
  'sqlite:///var/lib/parc/collector/collector.db' "$stage/parc-collector/etc/parc/collector.toml"
chmod 0640 "$stage/parc-collector/etc/parc/collector.toml"

for name in parc-agent parc-collector; do
  deb="$out/${name}_${version}_${arch}.deb"
  dpkg-deb --root-owner-group -Zxz --build "$stage/$name" "$deb" >/dev/null
  echo "==> $deb ($(stat -c %s "$deb") bytes, $profile binaries)"
done
rm -rf "$stage"
