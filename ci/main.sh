#!/usr/bin/env bash
# The main job: on a simulated fleet (the embedded default), a planned backup
# through injected faults, a rerun that completes it, an offline verify, and
# a look at where everything stands.
#   ci/main.sh [WORK_DIR]     (default: ./demo, recreated each run)
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DSF_TESTS=OFF >/dev/null
cmake --build build/release -j"$jobs" >/dev/null
sf=build/release/snapfleet
work=${1:-demo}
rm -rf "$work"
mkdir -p "$work"

step() { printf '\n== %s\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "a simulated fleet of 8 canisters" \
  $sf sim init --state "$work/fleet.json" --seed 42 --canisters 8 --heap-max 1048576
step "the fleet before the backup" $sf sim show --state "$work/fleet.json"
# The first run meets a lost response on a snapshot and a permanent download
# failure: it reconciles the first, stops at the second and restarts
# everything it stopped.
printf '\n== a backup that meets faults (this run is expected to fail)\n'
if $sf backup --sim-state "$work/fleet.json" --out "$work/backup" --include-root \
     --faults 'create:*:2=lost-response,download:*:3=permanent'; then
  echo "unexpected: the faulty run completed" >&2
  exit 1
fi
step "where it stopped" $sf backup status "$work/backup"
step "the rerun resumes and completes" \
  $sf backup --sim-state "$work/fleet.json" --out "$work/backup" --include-root
step "offline verification of every artifact" $sf backup verify "$work/backup"
step "the manifest against canic's rules" \
  $sf manifest validate "$work/backup/fleet-backup-manifest.json"
step "every canister running again, one snapshot each" $sf sim show --state "$work/fleet.json"
printf '\nmain job: ok (backup in %s)\n' "$work/backup"
