#!/usr/bin/env bash
# Acceptance against the real `icp` 1.5.0 (ci/install-icp.sh puts it in
# .icp-cli/): `snapfleet backup` and `snapshot download` with
# `--driver icp --dry-run` print the commands the driver would run, and
# every one of them, run against the real binary with an unreachable URL
# network, gets past icp's argument parser: it may fail to connect
# (exit 1) or be cut off by the timeout here, but never exit 2.
# (tests/test_icp_real.c runs every operation the driver has, upload, restore
# and delete included, through the driver code against the same binary.)
#
# Without the binary this SKIPs (exit 0), unless SF_REQUIRE_REAL_ICP=1,
# which CI sets: then a missing binary fails.
source "$(dirname "$0")/lib.bash" "$1"
repo=$(cd "$(dirname "$0")/../.." && pwd)
ICP=${SF_ICP_BIN:-$repo/.icp-cli/node_modules/@icp-sdk/icp-cli-linux-x64/bin/icp}

if [[ ! -x "$ICP" ]]; then
  if [[ "${SF_REQUIRE_REAL_ICP:-}" == 1 ]]; then
    echo "FAIL: SF_REQUIRE_REAL_ICP=1 but $ICP is missing (run ci/install-icp.sh)" >&2
    exit 1
  fi
  echo "SKIP: icp 1.5.0 is not installed at $ICP (run ci/install-icp.sh, or set SF_ICP_BIN)"
  exit 0
fi

# icp must not see the operator's identities, settings or telemetry.
export HOME="$TMP/home" ICP_HOME="$TMP/icp-home" DO_NOT_TRACK=1
unset RUST_BACKTRACE RUST_LIB_BACKTRACE ICP_NETWORK ICP_ENVIRONMENT ICP_PROJECT_ROOT
mkdir -p "$HOME" "$ICP_HOME"
cd "$TMP" || exit 1

version=$("$ICP" --version 2>&1)
if [[ "$version" == "icp 1.5.0" ]]; then ok; else bad "version: $version"; fi

ROOT=rrkah-fqaaa-aaaaa-aaaaq-cai
APP=ryjl3-tyaaa-aaaaa-aaaba-cai
STORE=r7inp-6aaaa-aaaaa-aaabq-cai
HASH=aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00aa00
cat >"$TMP/registry.json" <<EOF
{"Ok": [
  {"pid": "$ROOT", "role": "root", "record": {"parent_pid": null, "module_hash": "$HASH"}},
  {"pid": "$APP", "role": "app", "record": {"parent_pid": "$ROOT", "module_hash": null}},
  {"pid": "$STORE", "role": "store", "record": {"parent_pid": "$APP", "module_hash": null}}
]}
EOF
NET=(--driver icp --icp "$ICP" --network http://127.0.0.1:9 --root-key mainnet
     --registry-file "$TMP/registry.json")
SNAP=0000000000000001000000000000000101010101

# replay CMD_FILE WHAT: runs every printed command (they start with the
# binary's path), all at once. A snapshot id does not exist yet in a dry
# run, so a real-looking one stands in for the placeholder. icp's parser
# answers in milliseconds, so a command still running after 3 s (a fresh
# download retrying the unreachable replica) got past it.
replay() {
  local file=$1 what=$2 n=0 i line rc
  local -a lines=()
  while IFS= read -r line; do
    [[ "$line" == "$ICP "* ]] || continue
    line=${line//"'<snapshot-id>'"/$SNAP}
    line=${line//"'<uploaded-snapshot-id>'"/$SNAP}
    lines[n]=$line
    (eval "timeout 3 $line" >"$TMP/icp.$n.out" 2>"$TMP/icp.$n.err"
     echo $? >"$TMP/icp.$n.rc") &
    n=$((n + 1))
  done <"$file"
  wait
  for ((i = 0; i < n; i++)); do
    rc=$(cat "$TMP/icp.$i.rc")
    if [[ $rc == 2 ]]; then
      failed=$((failed + 1))
      echo "FAIL: $what: icp rejected the command line (exit 2): ${lines[i]}" >&2
      head -5 "$TMP/icp.$i.err" >&2
    elif [[ $rc == 0 ]]; then
      failed=$((failed + 1))
      echo "FAIL: $what: exit 0 against an unreachable network: ${lines[i]}" >&2
    else
      ok
    fi
  done
  if [[ $n -gt 0 ]]; then ok; else bad "$what: no commands printed"; fi
  echo "$what: $n commands, none refused by icp's argument parser"
}

run backup --out "$TMP/fleet" --root "$ROOT" --include-root --dry-run "${NET[@]}"
expect_rc 0 "backup --dry-run (fleet)"
expect_out "$ICP canister stop $ROOT -n http://127.0.0.1:9 -k mainnet" "stop line"
expect_out "$ICP canister snapshot create $APP --json -n http://127.0.0.1:9 -k mainnet" "create line"
expect_out "$ICP canister snapshot download $STORE '<snapshot-id>' --output $TMP/fleet/$STORE.tmp -n http://127.0.0.1:9 -k mainnet" "download line"
cp "$TMP/out" "$TMP/fleet.cmds"
replay "$TMP/fleet.cmds" "backup, fleet schedule"

run backup --out "$TMP/per" --root "$ROOT" --include-root --schedule per-canister \
  --dry-run --identity anonymous "${NET[@]}"
expect_rc 0 "backup --dry-run (per-canister, --identity)"
expect_out "$ICP canister start $STORE -n http://127.0.0.1:9 -k mainnet --identity anonymous" "identity last"
cp "$TMP/out" "$TMP/per.cmds"
replay "$TMP/per.cmds" "backup, per-canister schedule"

run snapshot download --out "$TMP/snap" --canister "$ROOT" --root "$ROOT" --recursive \
  --resume-after-snapshot --dry-run "${NET[@]}" --root-key fetch
expect_rc 0 "snapshot download --dry-run"
expect_out "-n http://127.0.0.1:9 -k fetch" "root key fetch"
cp "$TMP/out" "$TMP/snap.cmds"
replay "$TMP/snap.cmds" "snapshot download"

# The production form for the IC prints, and is not run here (no network).
# Restore: a backup made on the simulator, then the icp commands a restore of
# it would run (uploads from the staged copies, loads, stops, starts, status).
"$SF" sim init --state "$TMP/sim.json" --seed 3 --canisters 3 >/dev/null || bad "sim init"
"$SF" backup --sim-state "$TMP/sim.json" --out "$TMP/simbackup" --include-root >/dev/null ||
  bad "simulated backup"
run restore run --backup "$TMP/simbackup" --dry-run "${NET[@]}"
expect_rc 0 "restore run --dry-run"
expect_out "snapshot upload" "upload lines"; expect_out "snapshot restore" "load lines"
if grep -q -- "--resume" "$TMP/out"; then bad "a first upload must not --resume"; else ok; fi
cp "$TMP/out" "$TMP/restore.cmds"
replay "$TMP/restore.cmds" "restore"

run backup --out "$TMP/ic" --root "$ROOT" --include-root --dry-run --driver icp \
  --icp "$ICP" --network ic --registry-file "$TMP/registry.json"
expect_rc 0 "backup --network ic --dry-run"
expect_out "$ICP canister snapshot create $ROOT --json -n ic" "ic network line"

# A create at the snapshot limit replaces a snapshot (`--replace <id>`): a
# backup against the fake icp with a limit of 1 makes the driver render it,
# and that exact argv, run against the real binary, gets past its parser.
FAKE=$repo/tests/fake-icp/icp
HASH_ROOT=69a2613dc9b6b55e1b490cd975fc5c44de39fe3c649ce2e08ec378bbe4659e65
cat >"$TMP/fake.json" <<JSON
{"clock": 1700000000000000000, "registry_root": "$ROOT", "snapshot_limit": 1,
 "registry": [{"pid": "$ROOT", "role": "root", "parent_pid": null,
               "module_hash": "$HASH_ROOT", "created_at": 1}],
 "canisters": {"$ROOT": {"status": "Running", "controllers": ["$ROOT"],
                         "module_hash": "$HASH_ROOT", "snapshots": []}},
 "faults": []}
JSON
FAKENET=(--driver icp --icp "$FAKE" --network http://127.0.0.1:9 --root-key mainnet --snapshot-limit 1
         --root "$ROOT" --include-root)
for day in 1 2; do
  FAKE_ICP_STATE="$TMP/fake.json" FAKE_ICP_LOG="$TMP/fake.log" \
    run backup --out "$TMP/limit/day$day" "${FAKENET[@]}"
  expect_rc 0 "backup day $day through the fake icp at a limit of 1"
done
python3 - "$TMP/fake.log" >"$TMP/replace.args" <<'PY' || bad "no create --replace recorded"
import json, sys
for line in open(sys.argv[1]):
    argv = json.loads(line)["argv"]
    if argv[:3] == ["canister", "snapshot", "create"] and "--replace" in argv:
        print("\n".join(argv))
        sys.exit(0)
sys.exit(1)
PY
mapfile -t replace_args <"$TMP/replace.args"
if ((${#replace_args[@]} > 0)); then
  rc=0
  timeout 3 "$ICP" "${replace_args[@]}" >"$TMP/replace.out" 2>&1 || rc=$?
  if [[ $rc != 2 ]]; then ok; else bad "real icp refused: icp ${replace_args[*]}: $(head -3 "$TMP/replace.out")"; fi
fi

# The driver refuses what icp would refuse, before running anything.
run backup --out "$TMP/x" --root "$ROOT" --driver icp --icp "$ICP" --network http://127.0.0.1:9
expect_rc 2 "URL network without --root-key"
expect_err "--root-key" "names the option"
run backup --out "$TMP/x" --root "$ROOT" --driver icp --icp "$ICP" --network ic --root-key mainnet
expect_rc 2 "--root-key with a named network"

finish
