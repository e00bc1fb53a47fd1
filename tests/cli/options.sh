#!/usr/bin/env bash
# Option order on every command: options and operands in any order (GNU
# permutation), "--" ends options, usage errors name the option. Each case
# runs a command in two orders and wants the same exit status and output.
if [[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]]; then export TMPDIR=/dev/shm; fi
source "$(dirname "$0")/lib.bash" "$1"
SF=$(cd "$(dirname "$SF")" && pwd)/$(basename "$SF")  # some cases cd

# same DESCRIPTION [WANT] -- ARGS1... :: ARGS2...: both orders, the same
# exit status (WANT, 0 unless given) and the same stdout.
same() {
  local desc=$1 want=0 a=() b=() side=0 arg rc1 out1
  shift
  if [[ $1 != -- ]]; then want=$1; shift; fi
  shift
  for arg in "$@"; do
    if [[ $side == 0 && $arg == "::" ]]; then side=1; continue; fi
    if [[ $side == 0 ]]; then a+=("$arg"); else b+=("$arg"); fi
  done
  run "${a[@]}"; rc1=$rc; out1=$(out)
  run "${b[@]}"
  if [[ $rc == "$rc1" && "$(out)" == "$out1" ]]; then ok; else
    bad "$desc: '${a[*]}' gave $rc1, '${b[*]}' gave $rc"; fi
  [[ $rc1 == "$want" ]] && ok || bad "$desc: '${a[*]}' exit $rc1, wanted $want"
}

J=$DATA/journals/valid-three-states.json
M=$DATA/manifests/valid-subtree.json

# ---- document commands: options after the FILE (the order --help shows) ----
same "manifest validate" -- manifest validate --json "$M" :: manifest validate "$M" --json
same "manifest validate --summary" -- manifest validate --summary "$M" :: manifest validate "$M" --summary
same "journal validate" -- journal validate --json "$J" :: journal validate "$J" --json
same "journal report" -- journal report --json "$J" :: journal report "$J" --json
run manifest validate "$M" --json; expect_out '"valid": true' "FILE then --json is JSON"

# "--" ends options: a file whose name starts with a dash
cp "$M" "$TMP/-m.json"
(cd "$TMP" && "$SF" manifest validate --json -- -m.json >"$TMP/out" 2>"$TMP/err"); rc=$?
expect_rc 0 "-- then a dash-named FILE"; expect_out '"valid": true' "-- dash FILE read"
(cd "$TMP" && "$SF" manifest validate -- --json >"$TMP/out" 2>"$TMP/err"); rc=$?
expect_rc 1 "after --, --json is a FILE"; expect_err "--json" "the FILE --json is named"
run manifest validate "$M" -- --json; expect_rc 2 "two FILEs after --"
expect_err "expected exactly one FILE" "two FILEs message"
run manifest validate -m.json; expect_rc 2 "a dash FILE without -- is an option"
expect_err "unknown option: -m" "dash FILE names the option"
run journal report "$J" --bogus; expect_rc 2 "unknown option after FILE"
expect_err "unknown option: --bogus" "unknown option named"
run journal report "$J" --json=yes; expect_rc 2 "value on a flag"
expect_err "unknown option: --json=yes" "value on a flag named"

# ---- topology hash, checksum ----
cat >"$TMP/registry.json" <<'JSON'
{"Ok": [
  {"pid": "aaaaa-aa", "role": "root", "record": {"pid": "aaaaa-aa", "role": "root", "parent_pid": null, "module_hash": null, "created_at": "1"}},
  {"pid": "renrk-eyaaa-aaaaa-aaada-cai", "role": "app", "record": {"pid": "renrk-eyaaa-aaaaa-aaada-cai", "role": "app", "parent_pid": ["aaaaa-aa"], "module_hash": null, "created_at": "2"}}
]}
JSON
same "topology hash" -- topology hash --registry "$TMP/registry.json" --canister aaaaa-aa --recursive --json \
  :: topology hash --json --recursive --canister aaaaa-aa --registry "$TMP/registry.json"
run topology hash --registry "$TMP/registry.json" stray --canister aaaaa-aa
expect_rc 2 "topology hash stray operand between options"
expect_err "unexpected argument: stray" "stray operand named"
run topology hash --canister aaaaa-aa --registry
expect_rc 2 "topology hash missing value"
expect_err "option requires a value: --registry" "missing value named"
echo a >"$TMP/f1"; echo b >"$TMP/-f2"
same "checksum" -- checksum "$TMP/f1" "$TMP/-f2" :: checksum -- "$TMP/f1" "$TMP/-f2"
(cd "$TMP" && "$SF" checksum f1 -- -f2 >"$TMP/out" 2>"$TMP/err"); rc=$?
expect_rc 0 "checksum -- then a dash-named PATH"; expect_out "  -f2" "dash PATH checksummed"
expect_out "  f1" "PATH before -- kept"

# ---- the simulator ----
S=$TMP/s.json
same "sim init" -- sim init --state "$S" --seed 3 --canisters 3 :: sim init --canisters 3 --seed 3 --state "$S"
same "sim show" -- sim show --state "$S" --json :: sim show --json --state "$S"
same "sim registry" -- sim registry --state "$S" :: sim registry --state="$S"
ROOT=$("$SF" sim show --state "$S" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["root"])')
cp "$S" "$TMP/s2.json"
same "sim mutate" -- sim mutate --state "$S" --canister "$ROOT" :: sim mutate --canister "$ROOT" --state "$S"
run sim show x --state "$S"; expect_rc 2 "sim show stray operand first"
expect_err "unexpected argument: x" "sim show stray named"
run sim registry --state "$S" --json; expect_rc 2 "option another verb takes"
expect_err "unknown option: --json" "foreign option named"
run sim init --seed; expect_rc 2 "sim init missing value"
expect_err "option requires a value: --seed" "sim init missing value named"
same "sim run" -- sim run --seeds 1..1 --canisters 3 --work "$TMP/w1" --no-crash \
  :: sim run --no-crash --work "$TMP/w2" --canisters 3 --seeds 1..1

# ---- backups ----
"$SF" sim init --state "$S" --seed 2 --canisters 3 >/dev/null || bad "sim init"
cp "$S" "$TMP/t.json"
same "backup dry run" -- backup --out "$TMP/b0" --sim-state "$S" --dry-run --include-root \
  :: backup --include-root --dry-run --sim-state "$S" --out "$TMP/b0"
run backup --sim-state "$S" --out "$TMP/b1" --include-root; expect_rc 0 "backup"
run backup --include-root --out "$TMP/b2" --sim-state "$TMP/t.json"; expect_rc 0 "backup, options reordered"
run backup --sim-state "$S" "$TMP/b3" --include-root; expect_rc 2 "backup stray operand"
expect_err "unexpected argument: $TMP/b3" "backup stray named"
same "backup verify" -- backup verify --json "$TMP/b1" :: backup verify "$TMP/b1" --json
same "backup status" -- backup status --json "$TMP/b1" :: backup status "$TMP/b1" --json
mkdir -p "$TMP/root"; cp -a "$TMP/b1" "$TMP/root/b1"
same "backup list" -- backup list --json "$TMP/root" :: backup list "$TMP/root" --json
same "backup inspect" -- backup inspect --json "$TMP/root/b1" :: backup inspect "$TMP/root/b1" --json
same "backup prune dry run" -- backup prune --dry-run --keep 5 --json "$TMP/root" \
  :: backup prune "$TMP/root" --json --keep 5 --dry-run
run backup prune "$TMP/root" --keep; expect_rc 2 "backup prune missing value"
expect_err "option requires a value: --keep" "backup prune missing value named"
same "snapshot download dry run" -- snapshot download --out "$TMP/d0" --sim-state "$S" --dry-run \
  :: snapshot download --dry-run --sim-state "$S" --out "$TMP/d0"
run snapshot download --dry-run --sim-state "$S" --out; expect_rc 2 "snapshot download missing value"
expect_err "option requires a value: --out" "snapshot download missing value named"

# ---- restores ----
same "restore plan" -- restore plan --backup "$TMP/b1" --json :: restore plan --json --backup "$TMP/b1"
same "restore run dry run" -- restore run --backup "$TMP/b1" --sim-state "$S" --dry-run \
  :: restore run --dry-run --sim-state "$S" --backup "$TMP/b1"
same "restore status before a restore" 1 -- restore status --backup "$TMP/b1" --json \
  :: restore status --json --backup "$TMP/b1"
run restore run --execute --backup "$TMP/b1" --sim-state "$S"; expect_rc 0 "restore run, options reordered"
same "restore status" -- restore status --backup "$TMP/b1" --json :: restore status --json --backup "$TMP/b1"
run restore status "$TMP/b1" --json; expect_rc 2 "restore status takes no operand"
expect_err "unexpected argument: $TMP/b1" "restore status stray named"

finish
