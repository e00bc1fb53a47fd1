#!/usr/bin/env bash
# Builds the checksum benchmark in Release mode and runs it.
#
#   bench/run.sh [bench_checksum options]     e.g. bench/run.sh --size 256M
#
# Scratch data (two copies of the size, 1 GiB each by default) goes to
# bench/out/ unless SF_BENCH_DIR says otherwise; the table is also saved
# to bench/out/results.md. Needs openssl and sha256sum on PATH.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build="$repo/build-bench"
out="${SF_BENCH_DIR:-$repo/bench/out}"

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSF_TESTS=OFF \
      -DSF_SANITIZE=OFF -DSF_FUZZ=OFF >/dev/null
cmake --build "$build" -j2 --target bench_checksum >/dev/null

mkdir -p "$out"
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'),"\
       "sha_ni: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no),"\
       "$(openssl version | cut -d' ' -f1-2), $(sha256sum --version | head -1)"
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ), load average before: $(cut -d" " -f1-3 /proc/loadavg)"
  "$build/bench_checksum" --dir "$out" "$@"
} | tee "$out/results.md"
