#!/usr/bin/env bash
# What a user of the installed snapfleet gets, checked from the installed
# files only:
#   1. `cmake --install` into a scratch prefix puts the program, the three
#      libraries, the public headers, the .pc files, the CMake package, the
#      man pages and the bash completion under it; the program runs from
#      there and `man` finds its pages; DESTDIR stages under the prefix.
#   2. Both examples (examples/*.c, copied out of the source tree) build
#      against that prefix once with pkg-config and once with
#      find_package(snapfleet CONFIG), and run: a backup of a simulated
#      fleet, verified, whose manifest validates.
#   3. `cpack -G DEB` makes a .deb; `dpkg -i` installs it, `snapfleet
#      --version` and `man snapfleet` work from /usr, then the package is
#      removed (needs root or sudo; skipped with a note otherwise, unless
#      SF_REQUIRE_DEB=1).
#   ci/install-check.sh [BUILD_DIR]   a shared Release build (default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=$(cd "${1:-build/release}" && pwd)
scratch=$(mktemp -d)
deb_installed=""
cleanup() {
  if [[ -n $deb_installed ]]; then $sudo dpkg -P snapfleet >/dev/null 2>&1 || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
CC=${CC:-cc}

step() { echo "-- install-check: $*"; }
die() { echo "install-check: FAILED: $*" >&2; exit 1; }
need_file() { [[ -e $1 ]] || die "$1 missing"; }

# ---- 1. cmake --install ----
prefix=$scratch/prefix
step "cmake --install --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
[[ -n $libdir ]] || die "CMAKE_INSTALL_LIBDIR not in $build/CMakeCache.txt"
for f in bin/snapfleet \
         "$libdir"/libsnapfleet.so.0 "$libdir"/libsnapfleet-sim.so.0 "$libdir"/libsnapfleet-icp.so.0 \
         "$libdir"/libsnapfleet.so "$libdir"/libsnapfleet-sim.so "$libdir"/libsnapfleet-icp.so \
         "$libdir"/libsnapfleet-remote.so.0 "$libdir"/libsnapfleet-remote.so \
         include/snapfleet/s3.h "$libdir"/pkgconfig/snapfleet-remote.pc \
         include/snapfleet/export.h include/snapfleet/manifest.h include/snapfleet/backup.h \
         include/snapfleet/sim.h include/snapfleet/icp.h \
         "$libdir"/pkgconfig/snapfleet.pc "$libdir"/pkgconfig/snapfleet-sim.pc \
         "$libdir"/pkgconfig/snapfleet-icp.pc \
         "$libdir"/cmake/snapfleet/snapfleetConfig.cmake \
         "$libdir"/cmake/snapfleet/snapfleetConfigVersion.cmake \
         share/man/man1/snapfleet.1 share/man/man1/snapfleet-backup.1 \
         share/man/man1/snapfleet-restore.1 share/man/man1/snapfleet-sim.1 \
         share/bash-completion/completions/snapfleet; do
  need_file "$prefix/$f"
done
# Every public header is installed, and nothing internal.
for h in core/include/snapfleet/*.h; do need_file "$prefix/include/snapfleet/$(basename "$h")"; done
installed=$(find "$prefix/include" -type f | wc -l)
[[ $installed == $(ls core/include/snapfleet/*.h | wc -l) ]] || die "include/ holds $installed files"
# Nothing written outside the prefix.
if grep -rlF -- "$src" "$prefix"/"$libdir"/pkgconfig "$prefix"/"$libdir"/cmake >/dev/null 2>&1; then
  die "installed package files name the source tree"
fi

version=$("$prefix/bin/snapfleet" --version)
[[ $version == "snapfleet "* ]] || die "installed snapfleet --version: $version"
loaded=$(ldd "$prefix/bin/snapfleet" | awk '$1 == "libsnapfleet.so.0" { print $3 }')
[[ -n $loaded && $(readlink -f "$loaded") == $(readlink -f "$prefix/$libdir/libsnapfleet.so.0") ]] ||
  die "installed snapfleet loads libsnapfleet.so.0 from '$loaded', not the prefix"
MANWIDTH=80 man -M "$prefix/share/man" snapfleet-backup 2>/dev/null | grep -q -- "--keep-on-canister" ||
  die "man -M $prefix/share/man snapfleet-backup"
bash -c "source '$prefix/share/bash-completion/completions/snapfleet' && complete -p snapfleet" >/dev/null ||
  die "the installed completion does not register"

step "DESTDIR"
DESTDIR=$scratch/stage cmake --install "$build" --prefix /opt/snapfleet >/dev/null
need_file "$scratch/stage/opt/snapfleet/bin/snapfleet"
need_file "$scratch/stage/opt/snapfleet/$libdir/libsnapfleet.so.0"
need_file "$scratch/stage/opt/snapfleet/share/man/man1/snapfleet.1"
[[ ! -e /opt/snapfleet ]] || die "DESTDIR install wrote to /opt/snapfleet"

# ---- 2. the examples against the installed tree ----
mkdir -p "$scratch/examples"
cp examples/validate_manifest.c examples/sim_backup.c examples/CMakeLists.txt "$scratch/examples/"
run_examples() { # DIR-WITH-BINARIES LABEL
  rm -rf "$scratch/backup-$2"
  "$1/sim_backup" "$scratch/backup-$2" 5 || die "$2: sim_backup"
  "$1/validate_manifest" "$scratch/backup-$2/fleet-backup-manifest.json" || die "$2: validate_manifest"
  if "$1/validate_manifest" "$src/tests/data/manifests/broken-duplicate-backup-unit-id.json" 2>/dev/null; then
    die "$2: validate_manifest accepted a broken manifest"
  fi
}

step "examples with pkg-config"
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
[[ $(pkg-config --modversion snapfleet) == "${version#snapfleet }" ]] || die "pkg-config --modversion snapfleet"
mkdir -p "$scratch/pc"
# shellcheck disable=SC2046
"$CC" -std=c17 -Wall -Wextra -Werror -o "$scratch/pc/validate_manifest" \
  "$scratch/examples/validate_manifest.c" $(pkg-config --cflags --libs snapfleet) \
  -Wl,-rpath,"$prefix/$libdir"
# shellcheck disable=SC2046
"$CC" -std=c17 -Wall -Wextra -Werror -o "$scratch/pc/sim_backup" \
  "$scratch/examples/sim_backup.c" $(pkg-config --cflags --libs snapfleet-sim) \
  -Wl,-rpath,"$prefix/$libdir"
pkg-config --exists snapfleet-icp || die "pkg-config snapfleet-icp"
pkg-config --exists snapfleet-remote || die "pkg-config snapfleet-remote"
run_examples "$scratch/pc" pkg-config
unset PKG_CONFIG_PATH

step "examples with find_package(snapfleet CONFIG)"
cmake -S "$scratch/examples" -B "$scratch/cm" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >/dev/null
cmake --build "$scratch/cm" >/dev/null
run_examples "$scratch/cm" find_package
# The three imported targets exist.
mkdir -p "$scratch/targets"
cat >"$scratch/targets/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.20)
project(targets LANGUAGES C)
find_package(snapfleet CONFIG REQUIRED COMPONENTS sim icp remote)
foreach(t snapfleet::snapfleet snapfleet::sim snapfleet::icp snapfleet::remote)
  if(NOT TARGET ${t})
    message(FATAL_ERROR "${t} missing")
  endif()
endforeach()
EOF
cmake -S "$scratch/targets" -B "$scratch/targets/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null ||
  die "find_package(snapfleet CONFIG COMPONENTS sim icp remote) and its four targets"

# ---- 3. the .deb ----
step "cpack -G DEB"
(cd "$build" && cpack -G DEB -B "$scratch/deb" >/dev/null) || die "cpack"
deb=$(ls "$scratch"/deb/snapfleet_*.deb 2>/dev/null | head -1)
[[ -n $deb ]] || die "no .deb in $scratch/deb"
contents=$(dpkg-deb --contents "$deb")
grep -q '\./usr/bin/snapfleet$' <<<"$contents" || die "the .deb holds no /usr/bin/snapfleet"
grep -q '\./usr/share/man/man1/snapfleet\.1$' <<<"$contents" || die "the .deb holds no man page"
grep -q 'libsnapfleet\.so\.0' <<<"$contents" || die "the .deb holds no libsnapfleet.so.0"
dpkg-deb --field "$deb" Depends | grep -q libcjson || die "the .deb does not depend on libcjson"
if [[ -n $sudo ]] && ! sudo -n true 2>/dev/null; then
  if [[ ${SF_REQUIRE_DEB:-0} == 1 ]]; then die "dpkg -i needs root or sudo"; fi
  step "dpkg -i skipped: neither root nor sudo"
else
  # One package install at a time on this machine.
  exec 9>"${TMPDIR:-/tmp}/snapfleet-install-check.lock"
  flock 9
  if dpkg-query -W -f='${Status}' snapfleet 2>/dev/null | grep -q 'install ok installed'; then
    die "a snapfleet package is already installed; remove it first (dpkg -P snapfleet)"
  fi
  step "dpkg -i $(basename "$deb")"
  deb_installed=1
  # Minimal images may tell dpkg to leave man pages out (path-exclude in
  # /etc/dpkg/dpkg.cfg.d); this check is about ours, so they go in.
  $sudo dpkg --path-include='/usr/share/man/man1/snapfleet*' -i "$deb" >/dev/null
  [[ $(/usr/bin/snapfleet --version) == "$version" ]] || die "/usr/bin/snapfleet --version"
  [[ $(command -v snapfleet) == /usr/bin/snapfleet ]] || die "snapfleet on PATH is $(command -v snapfleet)"
  [[ $(man -w snapfleet) == /usr/share/man/man1/snapfleet.1* ]] || die "man -w snapfleet: $(man -w snapfleet)"
  MANWIDTH=80 man snapfleet 2>/dev/null | grep -q "back up and restore fleets" || die "man snapfleet"
  MANWIDTH=80 man snapfleet-restore 2>/dev/null | grep -q -- "--unclaim-pending" || die "man snapfleet-restore"
  [[ -e /usr/share/bash-completion/completions/snapfleet ]] || die "completion not installed"
  [[ $(pkg-config --modversion snapfleet) == "${version#snapfleet }" ]] || die "pkg-config from /usr"
  $sudo dpkg -P snapfleet >/dev/null
  deb_installed=""
  [[ ! -e /usr/bin/snapfleet ]] || die "/usr/bin/snapfleet left after dpkg -P"
  flock -u 9
fi
step "passed"
