#!/usr/bin/env bash
# The main job, on a simulated fleet (the embedded default): a planned backup
# through injected faults, a rerun that completes it, an offline verify; then
# the fleet's memory changes, and a restore (through faults of its own)
# brings every canister's state digest back to what was backed up.
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
$sf sim show --state "$work/fleet.json" --json > "$work/backed-up.json"

printf '\n== three canisters change after the backup\n'
for id in $($sf sim show --state "$work/fleet.json" --json |
            sed -n 's/.*"canister_id": "\([^"]*\)".*/\1/p' | head -3); do
  $sf sim mutate --state "$work/fleet.json" --canister "$id"
done
step "the restore plan (the backup is verified first)" \
  $sf restore plan --backup "$work/backup" --out "$work/restore-plan.json"
step "the commands a restore runs" \
  $sf restore run --backup "$work/backup" --sim-state "$work/fleet.json" --dry-run
printf '\n== a restore that loses an upload response (reconciled by listing)\n'
$sf restore run --backup "$work/backup" --sim-state "$work/fleet.json" --execute \
  --faults 'upload:*:2=lost-response'
step "restore status" $sf restore status --backup "$work/backup"
$sf sim show --state "$work/fleet.json" --json > "$work/restored.json"
digests() { sed -n 's/.*"\(canister_id\|status\|state_digest\)": "\([^"]*\)".*/\1 \2/p' "$1"; }
if ! diff <(digests "$work/backed-up.json") <(digests "$work/restored.json"); then
  echo "main job: the restored fleet differs from the backup" >&2
  exit 1
fi
printf '\n== every canister'"'"'s state digest and status equal what was backed up\n'
digests "$work/restored.json" | paste - - - | column -t

# Off-machine: the backup pushed to a local S3-compatible server (s3rver
# behind a SigV4 check, ci/s3/) and pulled into a fresh directory, verified.
# Only when node and the server's packages can be had.
if command -v node >/dev/null 2>&1 && bash ci/s3/install.sh >/dev/null 2>&1; then
  mkdir -p "$work/s3"
  node --openssl-legacy-provider ci/s3/server.js "$work/s3" --bucket snapfleet \
    >"$work/s3.port" 2>"$work/s3.log" &
  s3_pid=$!
  trap 'kill $s3_pid 2>/dev/null || true' EXIT
  for _ in $(seq 300); do grep -q '^port ' "$work/s3.port" 2>/dev/null && break; sleep 0.1; done
  endpoint=http://127.0.0.1:$(awk '/^port /{print $2}' "$work/s3.port")
  export AWS_ACCESS_KEY_ID=snapfleet-test AWS_SECRET_ACCESS_KEY=snapfleet-test-secret
  case $work in /*) XDG_STATE_HOME=$work/state ;; *) XDG_STATE_HOME=$PWD/$work/state ;; esac
  export XDG_STATE_HOME
  step "the backup pushed to object storage (a local S3 server)" \
    $sf push "$work/backup" s3://snapfleet/main --endpoint "$endpoint"
  step "the pushed backups" $sf backup list s3://snapfleet/main --endpoint "$endpoint"
  step "pulled into a fresh directory, every checksum recomputed" \
    $sf pull s3://snapfleet/main/backup "$work/pulled" --endpoint "$endpoint"
  step "the pulled copy verifies" $sf backup verify "$work/pulled"
  kill $s3_pid 2>/dev/null
  wait $s3_pid 2>/dev/null || true
else
  printf '\n== object storage: skipped (node or the local S3 server is not available)\n'
fi
printf '\nmain job: ok (backup in %s, restored)\n' "$work/backup"
