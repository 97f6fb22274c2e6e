#!/usr/bin/env bash
# Cross-builds the Windows agent (x86_64-pc-windows-gnu) on Debian 12 with Debian's packages only:
# rustup cannot add targets here, so std is rebuilt for Windows from Debian's rust sources
# (-Zbuild-std) with Debian's rustc/cargo and linked by mingw-w64.
#
# Output: target/windows/x86_64-pc-windows-gnu/release/parc-agent.exe
# A separate target dir keeps this build from invalidating the Linux one (different rustc).
#
# --fast (what the test script uses): the release build unoptimised (opt-level 0), without LTO and
# with parallel codegen units. The tests check the exe's behaviour, not its size or speed: full LTO
# with one codegen unit makes this from-scratch build (std included) several minutes longer in CI,
# and opt-level 1 took 8 min 46 s against 6 min 26 s here, with the packaging tests under wine as
# fast either way (92-100 s against 99 s). The exe is 67 MB instead of 24 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
profile_args=()
if [ "${1:-}" = "--fast" ]; then
  profile_args=(--config 'profile.release.lto="off"' --config 'profile.release.codegen-units=16' --config 'profile.release.opt-level=0')
fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
need=()
[ -x /usr/bin/cargo ] && /usr/bin/cargo --version 2>/dev/null | grep -q 'source tarball' || need+=(rustc-web cargo-web)
[ -d /usr/lib/rustlib/src/rust/library ] || need+=(rust-web-src)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need+=(mingw-w64)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Debian's toolchain first in PATH bypasses rustup's proxy (and rust-toolchain.toml's pin),
# which is the point: only Debian's rustc matches the std sources in rust-web-src.
export PATH=/usr/bin:$PATH
export RUSTC=/usr/bin/rustc
version=$(cargo --version)
case "$version" in
  *"source tarball"*) ;;
  *) echo "build-windows: expected Debian's cargo, got: $version" >&2; exit 1 ;;
esac
echo "==> $version; $(rustc --version)"

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
# A static CRT (libgcc, winpthread) so the exe needs no mingw DLL beside it on the PC.
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS="-C target-feature=+crt-static"
cargo build --release --locked -p parc-agent "${profile_args[@]}" \
  --target x86_64-pc-windows-gnu \
  --target-dir target/windows \
  -Zbuild-std=std,panic_abort

exe=target/windows/x86_64-pc-windows-gnu/release/parc-agent.exe
[ -f "$exe" ] || { echo "build-windows: $exe was not produced" >&2; exit 1; }
echo "==> $exe ($(stat -c %s "$exe") bytes)"
