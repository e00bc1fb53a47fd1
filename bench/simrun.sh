#!/usr/bin/env bash
# sim run's throughput: seeds per second at 10 canisters (backup, crash,
# rerun, restore per seed), on the simulated disk and, side by side in the
# same run, on the POSIX disk (the reference: fsync, a forked child killed
# per crash, the fleet saved after every call).
#
#   bench/simrun.sh [SIM_SEEDS [POSIX_SEEDS [WORKERS]]]   defaults 400 20 2
#
# Builds the program in Release mode in build-bench/ and runs
# `snapfleet sim run --seeds 1..N --canisters 10 --workers W --disk D` for
# each disk (scratch under $TMPDIR, else /dev/shm for the simulated disk
# and /tmp for POSIX, as sim run picks). Prints, per disk: seeds, wall
# seconds, seeds per second (wall), CPU milliseconds per seed (user +
# system of the program and its workers), and the summary line (counts
# and the digest of every seed's line).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build="$repo/build-bench"
sim_seeds=${1:-400}
posix_seeds=${2:-20}
workers=${3:-2}

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSF_TESTS=OFF \
      -DSF_SANITIZE=OFF -DSF_FUZZ=OFF >/dev/null
cmake --build "$build" -j2 --target snapfleet_cli >/dev/null
sf="$build/snapfleet"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ), load average before: $(cut -d" " -f1-3 /proc/loadavg)"
printf '%-6s %7s %8s %9s %12s  %s\n' disk seeds wall_s seeds/s cpu_ms/seed summary
for disk in sim posix; do
  n=$sim_seeds
  [[ $disk == posix ]] && n=$posix_seeds
  out=$(mktemp)
  t0=$(date +%s.%N)
  cpu0=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  # the children's CPU time lands in this shell's cutime/cstime once reaped
  "$sf" sim run --seeds "1..$n" --canisters 10 --workers "$workers" \
        --disk "$disk" >"$out" || true
  t1=$(date +%s.%N)
  cpu1=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  tick=$(getconf CLK_TCK)
  awk -v d="$disk" -v n="$n" -v t0="$t0" -v t1="$t1" -v c0="$cpu0" -v c1="$cpu1" \
      -v tick="$tick" -v s="$(tail -1 "$out")" 'BEGIN {
        w = t1 - t0; printf "%-6s %7d %8.2f %9.2f %12.1f  %s\n", d, n, w, n / w,
        (c1 - c0) / tick * 1000 / n, s }'
  rm -f "$out"
done
