#!/usr/bin/env bash
# backup list, backup inspect and backup prune through the binary: --help,
# usage errors (exit 2), options in any order, the table and --json shapes,
# statuses, and prune keeping the newest verified backups.
if [[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]]; then export TMPDIR=/dev/shm; fi
source "$(dirname "$0")/lib.bash" "$1"
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
py() {
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$TMP/out" "$1" 2>/dev/null
}
expect_py() { # EXPR WANT DESCRIPTION
  local got
  got=$(py "$1")
  if [[ "$got" == "$2" ]]; then ok; else bad "$3: $1 = '$got', wanted '$2'"; fi
}

for cmd in "backup list" "backup inspect" "backup prune"; do
  run $cmd --help; expect_rc 0 "$cmd --help"; expect_out "usage: snapfleet $cmd" "$cmd --help"
  run $cmd --version; expect_rc 0 "$cmd --version"
  run $cmd --no-such-option; expect_rc 2 "$cmd bad option"
  expect_err "Try 'snapfleet $cmd --help'" "$cmd bad option hint"
done
run backup inspect; expect_rc 2 "inspect without DIR"; expect_err "expected DIR" "inspect DIR message"
run backup inspect a b; expect_rc 2 "inspect two dirs"
run backup list a b; expect_rc 2 "list two roots"
run backup prune "$TMP/r"; expect_rc 2 "prune without --keep"; expect_err "--keep N is required" "prune --keep message"
run backup prune --keep 1; expect_rc 2 "prune without ROOTDIR"
for bad_keep in 0 -1 x 1x ""; do
  run backup prune "$TMP/r" --keep "$bad_keep"; expect_rc 2 "prune --keep '$bad_keep'"
done
run backup list https://bucket/x; expect_rc 2 "list refuses a URL that is not s3://"
run backup prune https://bucket/x --keep 1; expect_rc 2 "prune refuses a URL that is not s3://"
# s3:// goes to object storage (tests/cli/s3.sh): here, without credentials.
AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
  run backup list s3://bucket/x
expect_rc 1 "list s3:// without credentials"; expect_err "(s3-config)" "says so"
AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
  run backup prune s3://bucket/x --keep 1
expect_rc 1 "prune s3:// without credentials"; expect_err "(s3-config)" "says so"
run backup prune s3://bucket/x; expect_rc 2 "prune s3:// without --keep"

# a missing root lists nothing
run backup list "$TMP/none" --json; expect_rc 0 "list missing root"
expect_py 'len(d["backups"])' 0 "missing root is empty"

S=$TMP/fleet.json
"$SF" sim init --state "$S" --seed 2 --canisters 3 --heap-min 1024 --heap-max 8192 \
  --stable-min 512 --stable-max 4096 --snapshot-limit 10 >/dev/null || bad "sim init"
R=$TMP/backups
for i in 1 2 3; do
  "$SF" backup --out "$R/day$i" --sim-state "$S" --include-root >/dev/null || bad "backup day$i"
done
"$SF" backup --out "$R/paused" --sim-state "$S" --include-root --max-steps 2 >/dev/null || bad "paused"
mkdir -p "$R/photos"; echo x >"$R/photos/cat.jpg"

run backup list "$R"; expect_rc 0 "list"
expect_out "BACKUP_ID" "list table header"; expect_out "day1" "list shows day1"
if grep -q photos "$TMP/out"; then bad "list shows a directory without documents"; else ok; fi
run backup list --json "$R"; expect_rc 0 "list --json before ROOTDIR"
expect_py 'len(d["backups"])' 4 "four backups"
expect_py 'd["backups"][0]["dir"]' paused "newest first"
expect_py 'd["backups"][0]["status"]' in-progress "paused is in progress"
expect_py 'd["backups"][3]["status"]' complete "day1 complete"
run backup list "$R" --verify --json
expect_py 'd["backups"][3]["status"]' verified "--verify recomputes"
SFA=$(cd "$(dirname "$SF")" && pwd)/$(basename "$SF")
( cd "$TMP" && "$SFA" backup list --json >"$TMP/out" 2>"$TMP/err" ); rc=$?
expect_rc 0 "list defaults to ./backups"; expect_py 'len(d["backups"])' 4 "default root"

run backup inspect "$R/day2" --json; expect_rc 0 "inspect --json"
expect_py 'len(d["manifest"]["members"])' 3 "inspect members"
expect_py 'd["execution"]["failed_operations"]' 0 "inspect execution"
expect_py 'd["download"]["is_complete"]' True "inspect download"
run backup inspect "$R/day2"; expect_out "MODULE_HASH" "inspect table"
run backup inspect "$R/photos"; expect_rc 1 "inspect a non-backup"; expect_err "not-a-backup" "inspect kind"

run backup prune "$R" --keep 2 --dry-run --json; expect_rc 0 "prune dry run"
expect_py 'd["deleted"]' 1 "dry run would delete one"
[[ -d $R/day1 ]] && ok || bad "dry run deleted day1"
run backup prune --keep 2 "$R"; expect_rc 0 "prune"
expect_out "deleted" "prune says deleted"
[[ ! -e $R/day1 && -d $R/day2 && -d $R/day3 && -d $R/paused && -f $R/photos/cat.jpg ]] \
  && ok || bad "prune kept the wrong set"
run backup prune "$R" --keep 2 --json; expect_py 'd["deleted"]' 0 "prune again deletes nothing"

# ---- on-canister retention ----
for cmd in "backup" "snapshot download"; do
  run $cmd --out "$TMP/k" --sim-state "$S" --keep-on-canister x; expect_rc 2 "$cmd --keep-on-canister x"
  run $cmd --out "$TMP/k" --sim-state "$S" --keep-on-canister -1; expect_rc 2 "$cmd --keep-on-canister -1"
  run $cmd --help; expect_out "--keep-on-canister N" "$cmd --help retention"; expect_out "--root-dir DIR" "$cmd --help root"
done
S2=$TMP/limited.json
"$SF" sim init --state "$S2" --seed 3 --canisters 2 --snapshot-limit 2 >/dev/null || bad "sim init limited"
for i in 1 2 3 4; do
  run backup --out "$TMP/daily/d$i" --sim-state "$S2" --include-root
  expect_rc 0 "daily backup $i with a limit of 2"
done
"$SF" sim show --state "$S2" --json >"$TMP/out"
expect_py '[len(c["snapshots"]) for c in d["canisters"]]' "[1, 1]" "one snapshot kept per canister"
# with a driver, backup list says how many snapshots are still on the canisters
cp "$S2" "$TMP/limited.before"
run backup list "$TMP/daily" --sim-state "$S2" --json; expect_rc 0 "list --sim-state"
expect_py '[b["snapshots_on_canisters"] for b in d["backups"]]' "[2, 0, 0, 0]" "only the newest backup's snapshots are on the canisters"
cmp -s "$S2" "$TMP/limited.before" && ok || bad "list --sim-state changed the state file"
run backup list "$TMP/daily" --sim-state "$S2"; expect_rc 0 "list table --sim-state"
expect_out " 2/2" "list table shows 2/2"
run backup list "$TMP/daily" --json; expect_py '[b["snapshots_on_canisters"] for b in d["backups"]]' "[None, None, None, None]" "no driver, null"
run backup list "$TMP/daily" --network ic; expect_rc 2 "list --network without --driver icp"
expect_err "belongs to --driver icp" "list --network message"
run backup list "$TMP/daily" --sim-state "$TMP/none.json"; expect_rc 1 "list with a missing state file"
run backup list --help; expect_out "--sim-state FILE" "list --help driver"; expect_out "ON_CANISTERS" "list --help column"
run snapshot download --out "$TMP/daily/direct" --sim-state "$S2" --keep-on-canister 0
expect_rc 0 "snapshot download --keep-on-canister 0"
"$SF" sim show --state "$S2" --json >"$TMP/out"
expect_py '[len(c["snapshots"]) for c in d["canisters"]]' "[0, 0]" "keep 0 deletes every recorded snapshot"
run backup list "$TMP/daily" --json; expect_py 'len(d["backups"])' 5 "every daily backup listed"

# ---- sim run --daily ----
run sim run --seeds 1 --daily --days 0; expect_rc 2 "--days 0"
run sim run --seeds 3 --daily --days 9 --canisters 3 --work "$TMP/simwork"
expect_rc 0 "sim run --daily"; expect_out "scenario=daily days=9 pruned=2 kept=7" "daily line"
first=$(grep -o 'digest=[0-9a-f]*' "$TMP/out")
run sim run --seeds 3 --daily --days 9 --canisters 3 --work "$TMP/simwork"
[[ "$(grep -o 'digest=[0-9a-f]*' "$TMP/out")" == "$first" ]] && ok || bad "daily digest is reproducible"
# ---- at the snapshot limit: replace the oldest verified snapfleet snapshot ----
for cmd in "backup" "snapshot download"; do
  run $cmd --out "$TMP/k" --sim-state "$S" --snapshot-limit 0; expect_rc 2 "$cmd --snapshot-limit 0"
  run $cmd --out "$TMP/k" --sim-state "$S" --snapshot-limit x; expect_rc 2 "$cmd --snapshot-limit x"
  run $cmd --help; expect_out "--snapshot-limit N" "$cmd --help limit"
done
S3=$TMP/full.json
"$SF" sim init --state "$S3" --seed 5 --canisters 2 --snapshot-limit 2 >/dev/null || bad "sim init full"
for i in 1 2 3; do
  run backup --out "$TMP/full/d$i" --sim-state "$S3" --include-root --keep-on-canister 2
  expect_rc 0 "backup $i at a limit of 2, keeping 2"
done
run backup list "$TMP/full" --sim-state "$S3" --json
expect_py '[b["snapshots_on_canisters"] for b in d["backups"]]' "[2, 2, 0]" "day 3 replaced day 1's snapshots"
# day 2's backup no longer verifies: its snapshots are not replaced, and the
# run fails before stopping anything
victim=$(find "$TMP/full/d2" -name stable_memory.bin | head -1)
printf '!' | dd of="$victim" bs=1 count=1 conv=notrunc 2>/dev/null
run backup --out "$TMP/full/d4" --sim-state "$S3" --include-root --keep-on-canister 2
expect_rc 1 "a full canister whose oldest backup does not verify"
expect_err "snapshot-limit-reached" "the refusal's kind"; expect_err "Nothing was stopped" "nothing stopped"
expect_err "which is corrupt, not complete and verified" "names why"
"$SF" sim show --state "$S3" --json >"$TMP/out"
expect_py '[(c["status"], len(c["snapshots"])) for c in d["canisters"]]' "[('running', 2), ('running', 2)]" "the fleet as it was"
finish
