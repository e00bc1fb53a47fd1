#!/usr/bin/env bash
# The shared libraries export the public API and nothing else.
#   ci/check-exports.sh LIB.so...      the given libraries
#   ci/check-exports.sh BUILD_DIR      libsnapfleet.so, libsnapfleet-sim.so,
#                                      libsnapfleet-icp.so and libsnapfleet-remote.so
#                                      in a shared build
# For each library: every defined dynamic symbol is an sf_ name declared in
# a public header (core/include/snapfleet/*.h); its SONAME is the file's
# name up to the major version (libsnapfleet.so.0); and every sf_ symbol it
# needs is defined by itself or by a snapfleet library it names as NEEDED
# (the core needs none, so each library is usable alone). Exit status: 0
# all hold, 1 a violation (each printed), 2 usage error.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
if (($# == 0)); then echo "usage: ci/check-exports.sh BUILD_DIR | LIB.so..." >&2; exit 2; fi
libs=()
if (($# == 1)) && [[ -d $1 ]]; then
  for name in libsnapfleet libsnapfleet-sim libsnapfleet-icp libsnapfleet-remote; do
    if [[ -e $1/$name.so ]]; then libs+=("$1/$name.so"); else
      echo "check-exports: $1/$name.so missing (configure with -DBUILD_SHARED_LIBS=ON)" >&2; exit 1
    fi
  done
else
  libs=("$@")
fi

declared=$(cat "$src"/core/include/snapfleet/*.h)
status=0
fail() { echo "check-exports: $*" >&2; status=1; }

for lib in "${libs[@]}"; do
  real=$(readlink -f "$lib")
  base=$(basename "$real")
  # The defined dynamic symbols, less the linker's own markers.
  defined=$(nm -D --defined-only "$real" | awk '{print $NF}' |
            grep -vxE '_init|_fini|__bss_start|_edata|_end|__end__' | sort -u || true)
  n=0
  while IFS= read -r sym; do
    [[ -n $sym ]] || continue
    n=$((n + 1))
    if [[ $sym != sf_* ]]; then
      fail "$base exports $sym, which is not an sf_ name"
    elif ! grep -qw -- "$sym" <<<"$declared"; then
      fail "$base exports $sym, which no public header declares"
    fi
  done <<<"$defined"
  ((n > 0)) || fail "$base exports nothing"

  # SONAME: lib<name>.so.<major>.
  soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  want=$(sed -E 's/^(.*\.so\.[0-9]+)(\..*)?$/\1/' <<<"$base")
  if [[ -z $soname ]]; then fail "$base has no SONAME"
  elif [[ $soname != "$want" ]]; then fail "$base: SONAME $soname, wanted $want"; fi

  # Needed sf_ symbols come from the snapfleet libraries it links.
  provided=$defined
  while IFS= read -r needed; do
    dep=$(dirname "$real")/$needed
    if [[ $needed == libsnapfleet* && -e $dep ]]; then
      provided+=$'\n'$(nm -D --defined-only "$dep" | awk '{print $NF}')
    fi
  done < <(readelf -d "$real" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  while IFS= read -r sym; do
    [[ -n $sym ]] || continue
    if ! grep -qxF -- "$sym" <<<"$provided"; then
      fail "$base needs $sym, which neither it nor a snapfleet library it links defines"
    fi
  done < <(nm -D --undefined-only "$real" | awk '{print $NF}' | grep '^sf_' | sort -u || true)

  if ((status == 0)); then echo "check-exports: $base ($soname): $n sf_ symbols, nothing else"; fi
done
exit $status
